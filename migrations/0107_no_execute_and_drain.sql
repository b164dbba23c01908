-- NoExecute taints and drains that move work (issue 11).
--
-- A NoExecute taint evicts the tasks on its machine that do not tolerate it: at once, or — when
-- every NoExecute taint is tolerated and some of the tolerations used name tolerationSeconds — that
-- many seconds (the least of them) after the taint appeared or the task was placed, whichever is
-- later (Kubernetes' taint manager). A drain (POST …/drain {deadline}) stops new placements and
-- evicts the machine's tasks; what is still there at its deadline is evicted then.
--
-- Evictions are transactions of their own, through return_to_pending (the same path as preemption
-- and lost machines: claims released, tasks pending again, schedulers woken), with the task's
-- reason `taint` or `drain` (in its `returned` event). A gang job that would keep fewer than
-- minAvailable claims loses all of them, so gangs stay whole (SPEC invariant 6).
--
-- enforce_machine does one machine; a graphile-worker job (`omega:enforce-machine`, run by any
-- scheduler worker) calls it as soon as a machine's taints or drain change, and again when its next
-- tolerationSeconds runs out; the maintenance check (every few seconds) sweeps all of them
-- (enforce_machines), so nothing waits on a lost job. No trigger fires on the commit path: they
-- watch the taints and state columns, which commits never set.

alter table omega.machines
  -- When each NoExecute taint ("key=value") appeared: tolerationSeconds count from there.
  add column no_execute_since jsonb not null default '{}' check (jsonb_typeof(no_execute_since) = 'object'),
  -- A draining machine's deadline: what is still there then is evicted anyway.
  add column drain_deadline timestamptz;
create index machines_enforced on omega.machines (cell, id)
  where no_execute_since <> '{}' or state = 'draining';

-- When a task of a job with these tolerations must leave a machine with these taints: null for
-- never, -infinity for at once.
create function omega.no_execute_due(p_taints jsonb, p_since jsonb, p_tolerations jsonb, p_placed_at timestamptz)
returns timestamptz
language sql immutable parallel safe as $$
  with taints as (
    select t, (p_since ->> ((t ->> 'key') || '=' || coalesce(t ->> 'value', '')))::timestamptz as since
    from jsonb_array_elements(p_taints) t where t ->> 'effect' = 'NoExecute'
  ), verdicts as (
    select tn.since,
      exists (select from jsonb_array_elements(p_tolerations) tol where omega.toleration_matches(tol, tn.t)) as tolerated,
      (select min((tol ->> 'tolerationSeconds')::numeric) from jsonb_array_elements(p_tolerations) tol
       where omega.toleration_matches(tol, tn.t) and tol ? 'tolerationSeconds') as seconds
    from taints tn
  )
  select case
    when not exists (select from verdicts) then null
    when exists (select from verdicts where not tolerated) then '-infinity'::timestamptz
    when not exists (select from verdicts where seconds is not null) then null
    else greatest((select max(since) from verdicts), p_placed_at)
      + make_interval(secs => greatest(0, (select min(seconds) from verdicts))::double precision)
    end
$$;

-- Evicts what must leave one machine now (NoExecute taints, drain deadline); returns how many
-- tasks it moved and when it must run again (null: nothing pending).
create function omega.enforce_machine(p_cell text, p_machine_id bigint)
returns table (evicted integer, next_due timestamptz)
language plpgsql as $$
#variable_conflict use_column
declare
  m omega.machines;
  v_taint bigint[];
  v_drain bigint[];
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
  if m.state = 'draining' and m.drain_deadline is not null then
    v_drain := array(select c.task_id from omega.claims c where c.cell = p_cell and c.machine_id = p_machine_id
                     and c.task_id <> all (v_taint));
  end if;
  v_taint := omega.with_whole_gangs(p_cell, v_taint);
  v_drain := omega.with_whole_gangs(p_cell, coalesce(v_drain, '{}'));
  v_drain := array(select unnest(v_drain) except select unnest(v_taint));
  if cardinality(v_taint) > 0 then
    perform omega.return_to_pending(p_cell, v_taint, 'taint');
  end if;
  if cardinality(v_drain) > 0 then
    perform omega.return_to_pending(p_cell, v_drain, 'drain');
  end if;
  return query select cardinality(v_taint) + cardinality(v_drain), v_next;
end $$;

-- p_task_ids, plus every other claimed task of a gang job that would keep fewer than minAvailable.
create function omega.with_whole_gangs(p_cell text, p_task_ids bigint[]) returns bigint[]
language sql stable as $$
  select coalesce(array_agg(distinct x), '{}') from (
    select unnest(p_task_ids) as x
    union all
    select c.task_id
    from omega.jobs j join omega.claims c on c.cell = j.cell and c.job_id = j.id
    where j.cell = p_cell and j.gang_min is not null
      and j.id in (select c2.job_id from omega.claims c2 where c2.cell = p_cell and c2.task_id = any (p_task_ids))
      and (select count(*) from omega.claims c3 where c3.cell = p_cell and c3.job_id = j.id and c3.task_id <> all (p_task_ids))
        between 1 and j.gang_min - 1) y
$$;

-- Queues enforce_machine for a machine at p_at: one queued run per machine and p_slot (`now`,
-- `due`: the next tolerationSeconds to run out, `deadline`: a drain's), the latest call winning.
create function omega.queue_enforcement(p_cell text, p_machine_id bigint, p_at timestamptz, p_slot text default 'now')
returns void
language sql as $$
  select graphile_worker.add_job('omega:enforce-machine',
    json_build_object('cell', p_cell, 'machineId', p_machine_id),
    run_at => greatest(p_at, now()),
    job_key => format('omega:enforce-machine:%s:%s:%s', p_cell, p_machine_id, p_slot),
    job_key_mode => 'replace', max_attempts => 5);
$$;

-- Runs enforce_machine for every machine with a NoExecute taint or a drain (the maintenance sweep).
create function omega.enforce_machines() returns integer
language plpgsql as $$
declare
  m record;
  n integer := 0;
  r record;
begin
  for m in select cell, id from omega.machines where no_execute_since <> '{}' or state = 'draining' order by cell, id loop
    select * into r from omega.enforce_machine(m.cell, m.id);
    n := n + r.evicted;
  end loop;
  return n;
end $$;

-- Taints changed: stamp NoExecute taints with when they appeared (kept for those already there),
-- and enforce now. A machine back `up` is no longer draining.
create function omega.machine_rules_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  new.no_execute_since := (
    select coalesce(jsonb_object_agg(k.key, coalesce(
      case when tg_op = 'UPDATE' then old.no_execute_since -> k.key end, to_jsonb(now()))), '{}')
    from (select distinct (t ->> 'key') || '=' || coalesce(t ->> 'value', '') as key
          from jsonb_array_elements(new.taints) t where t ->> 'effect' = 'NoExecute') k);
  if new.state = 'up' then
    new.drain_deadline := null;
  end if;
  if new.id is not null and (new.no_execute_since <> '{}' or new.drain_deadline is not null) then
    perform omega.queue_enforcement(new.cell, new.id, now());
  end if;
  return new;
end $$;
revoke execute on function omega.machine_rules_changed() from public;
create trigger machines_rules before insert or update of taints, state, drain_deadline on omega.machines
  for each row execute function omega.machine_rules_changed();

-- POST /v1/cells/:cell/machines/:name/drain {deadline}: draining (no new placements), its tasks
-- evicted (by the queued enforce_machine, at once), and anything still there at the deadline too.
create function omega.drain_machine(p_cell text, p_name text, p_deadline interval default '0') returns omega.machines
language plpgsql as $$
declare
  m omega.machines;
begin
  if p_deadline is null or p_deadline < '0' or p_deadline > '1 year' then
    raise exception using errcode = 'OM422', message = 'deadline: a duration from 0 to a year is required';
  end if;
  update omega.machines set state = 'draining', drain_deadline = now() + p_deadline
  where cell = p_cell and name = p_name
  returning * into m;
  if m.id is null then
    raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_name, p_cell);
  end if;
  if p_deadline > '0' then
    perform omega.queue_enforcement(p_cell, m.id, now() + p_deadline, 'deadline');
  end if;
  perform omega.queue_enforcement(p_cell, m.id, now());
  return m;
end $$;
call omega.grant_entry_point('drain_machine', '{omega_api}');
call omega.grant_entry_point('enforce_machine', '{omega_scheduler}');
call omega.grant_entry_point('enforce_machines', '{omega_scheduler}');
call omega.grant_entry_point('queue_enforcement', '{omega_scheduler}');
