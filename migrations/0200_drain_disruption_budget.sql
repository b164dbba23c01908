-- Drains honour disruption budgets (issue 11, SPEC "Rebalancing": "at most that many of the job's
-- tasks are away from a machine ... because of a rebalance or a drain"), as `kubectl drain` honours
-- PodDisruptionBudgets: before the drain's deadline, a running task of a job with
-- `disruptionBudget.maxUnavailable` is evicted only while fewer than that many of the job's tasks
-- are away; the rest wait for those to run again elsewhere. At the deadline everything left goes
-- (the deadline is the backstop, as `kubectl drain --timeout` followed by a forced delete).
--
-- "Away" is one count for moves and drains: job_unavailable now adds the tasks a drain took off a
-- machine while they ran and that have not run since (read from the task's events: a `returned`
-- event with reason `drain` right after a `running` one, and no `running` event after it). A task
-- that was not running loses nothing by moving, as for a move (disruption_allows).

-- Tasks of the job a drain took away while they ran, not running again yet.
create function omega.job_drained_away(p_cell text, p_job_id bigint) returns integer
language sql stable as $$
  with ev as (
    select e.task_id, e.id, e.kind, e.reason, lag(e.kind) over (partition by e.task_id order by e.id) as before
    from omega.events e
    where e.cell = p_cell and e.job_id = p_job_id and e.task_id is not null
  ), last_run as (
    select task_id, max(id) filter (where kind = 'running') as run_id from ev group by task_id
  )
  select count(distinct ev.task_id)::integer
  from ev
  join last_run lr on lr.task_id = ev.task_id
  join omega.tasks t on t.cell = p_cell and t.id = ev.task_id
  where ev.kind = 'returned' and ev.reason = 'drain' and ev.before = 'running'
    and ev.id > coalesce(lr.run_id, 0) and t.state in ('pending', 'placed')
$$;

-- How many of a job's tasks are away because of a move or a drain (0160's, plus drains).
create or replace function omega.job_unavailable(p_cell text, p_job_id bigint) returns integer
language sql stable as $$
  select (select count(*)::integer from omega.tasks t
          where t.cell = p_cell and t.job_id = p_job_id and t.state = 'placed'
            and exists (select from omega.moves mv where mv.cell = p_cell and mv.task_id = t.id and mv.was_running))
       + case when exists (select from omega.jobs j where j.cell = p_cell and j.id = p_job_id and j.max_unavailable is not null)
           then omega.job_drained_away(p_cell, p_job_id) else 0 end
$$;

-- The tasks a drain may take off the machine now: all of them at or past the deadline; before it,
-- those of jobs without a budget, those not running (they lose nothing), and per budgeted job as
-- many running ones as its budget has room for. A gang must leave whole (with_whole_gangs): if its
-- budget cannot cover that, none of it leaves before the deadline. Under enforce_machine's locks.
create function omega.drain_allowed(p_cell text, p_machine_id bigint, p_except bigint[], p_deadline timestamptz)
returns table (task_ids bigint[], held integer)
language plpgsql stable as $$
#variable_conflict use_column
declare
  v_all bigint[];
  v_take bigint[];
  v_gang bigint[];
  j record;
begin
  v_all := array(select c.task_id from omega.claims c where c.cell = p_cell and c.machine_id = p_machine_id
                 and c.task_id <> all (p_except) order by c.task_id);
  if now() >= p_deadline then
    return query select omega.with_whole_gangs(p_cell, v_all), 0;
    return;
  end if;
  v_take := array(
    select x.task_id from (
      select c.task_id, k.max_unavailable, t.state,
        row_number() over (partition by c.job_id, t.state = 'running' order by c.task_id) as nth,
        omega.job_unavailable(p_cell, c.job_id) as away
      from omega.claims c
      join omega.jobs k on k.cell = c.cell and k.id = c.job_id
      join omega.tasks t on t.cell = c.cell and t.id = c.task_id
      where c.cell = p_cell and c.machine_id = p_machine_id and c.task_id = any (v_all)) x
    where x.max_unavailable is null or x.state <> 'running' or x.away + x.nth <= x.max_unavailable);
  v_gang := omega.with_whole_gangs(p_cell, v_take);
  -- A budgeted gang whose whole-gang eviction goes past its budget stays, all of it.
  for j in
    select k.id from omega.jobs k
    where k.cell = p_cell and k.gang_min is not null and k.max_unavailable is not null
      and k.id in (select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = any (v_gang))
      and omega.job_unavailable(p_cell, k.id) + (
        select count(*) from omega.tasks t where t.cell = p_cell and t.id = any (v_gang) and t.job_id = k.id
          and t.state = 'running') > k.max_unavailable
  loop
    v_gang := array(select x from unnest(v_gang) x
                    where x not in (select t.id from omega.tasks t where t.cell = p_cell and t.job_id = j.id));
  end loop;
  return query select v_gang, cardinality(v_all) - cardinality(array(select unnest(v_gang) intersect select unnest(v_all)));
end $$;

-- 0107's enforce_machine, its drain step now through drain_allowed; while the budget holds tasks
-- back, it asks to run again in a second (the maintenance sweep would, within a few).
create or replace function omega.enforce_machine(p_cell text, p_machine_id bigint)
returns table (evicted integer, next_due timestamptz)
language plpgsql as $$
#variable_conflict use_column
declare
  m omega.machines;
  v_taint bigint[];
  v_drain bigint[] := '{}';
  v_held integer := 0;
  v_next timestamptz;
begin
  -- Jobs before machines, as every writer of claims orders its locks.
  perform from omega.jobs j
  where j.cell = p_cell and j.id in (select c.job_id from omega.claims c where c.cell = p_cell and c.machine_id = p_machine_id)
  order by j.id for update;
  select * into m from omega.machines where cell = p_cell and id = p_machine_id for update;
  if m.id is null then
    return query select 0, null::timestamptz;
    return;
  end if;
  with due as (
    select c.task_id, c.job_id, omega.no_execute_due(m.taints, m.no_execute_since, j.tolerations, c.placed_at) as at
    from omega.claims c join omega.jobs j on j.cell = c.cell and j.id = c.job_id
    where c.cell = p_cell and c.machine_id = p_machine_id and m.no_execute_since <> '{}'
  )
  select coalesce(array_agg(d.task_id) filter (where d.at <= now()), '{}'), min(d.at) filter (where d.at > now())
    into v_taint, v_next
  from due d;
  v_taint := omega.with_whole_gangs(p_cell, v_taint);
  if m.state = 'draining' and m.drain_deadline is not null then
    select a.task_ids, a.held into v_drain, v_held
    from omega.drain_allowed(p_cell, p_machine_id, v_taint, m.drain_deadline) a;
    v_drain := array(select unnest(v_drain) except select unnest(v_taint));
  end if;
  if cardinality(v_taint) > 0 then
    perform omega.return_to_pending(p_cell, v_taint, 'taint');
  end if;
  if cardinality(v_drain) > 0 then
    perform omega.return_to_pending(p_cell, v_drain, 'drain');
  end if;
  if v_held > 0 then
    v_next := least(v_next, now() + interval '1 second', m.drain_deadline);
  end if;
  return query select cardinality(v_taint) + cardinality(v_drain), v_next;
end $$;

-- Replaced: security definer again, for the scheduler role only (0107's grant).
call omega.grant_entry_point('enforce_machine', '{omega_scheduler}');
