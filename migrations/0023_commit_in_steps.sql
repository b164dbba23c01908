-- commit_plan as named steps (lock, victim verdicts, evictions, apply, log), with generic plans and
-- index plans kept per connection, machines taken SKIP LOCKED, and the leases of jobs placed whole
-- given back in the same statement. Why each of these: see the top of 0021_hot_path.sql.

-- The commit, in named steps ----------------------------------------------------------------------

-- Step 1, lock, in the order every writer of claims takes its locks: jobs (by id), then machines
-- (by id), then quota rows (by tenant, band). Commits take the cell's quota lock shared: they never
-- wait for each other there, only for a quota being set (put_quota).
--
-- Machines are locked SKIP LOCKED: a machine another commit holds right now is not waited for; the
-- placements on it are rejected as `machine_busy` (a conflict, as Omega counts them) and planned
-- again on fresh state. Waiting would chain every commit that shares one machine with another
-- behind it — with plans of thousands of placements, nearly all of them — so that a second
-- scheduler made the first slower. Returns the busy machines.
create function omega.plan_lock(p_cell text, p_task_ids bigint[], p_machine_ids bigint[], p_victim_ids bigint[])
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_job_ids bigint[];
  v_locked bigint[];
begin
  perform pg_advisory_xact_lock_shared(omega.quota_lock_key(p_cell));
  v_job_ids := array(
    select t.job_id from omega.tasks t where t.cell = p_cell and t.id = any (p_task_ids)
    union select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_victim_ids));
  perform from omega.jobs j where j.cell = p_cell and j.id = any (v_job_ids) order by j.id for update;
  v_locked := array(select m.id from omega.machines m where m.cell = p_cell and m.id = any (p_machine_ids)
                    order by m.id for update skip locked);
  perform from omega.quotas q
  where q.cell = p_cell
    and q.tenant_id in (select j.tenant_id from omega.jobs j where j.cell = p_cell and j.id = any (v_job_ids))
  order by q.tenant_id, q.band for update;
  -- The ones that exist but were not locked (a missing machine is machine_not_found, not busy).
  return array(select m.id from omega.machines m where m.cell = p_cell and m.id = any (p_machine_ids)
               except select unnest(v_locked));
end $$;

-- Step 2a, victims on their own: each must hold a claim on its preemptor's machine, and be one the
-- preemptor may preempt (omega.may_preempt). One bad victim fails its preemptor, whose other
-- victims then stay. Returns the failed preemptors with why.
create function omega.plan_victim_verdicts(p_cell text, p_task_ids bigint[], p_machine_ids bigint[],
  p_victim_ids bigint[], p_victim_for bigint[])
returns table (for_task bigint, reason text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  return query
  with v as (
    select x.victim_id, x.for_task, c.task_id is not null as held, c.machine_id, c.priority as victim_priority,
      target.machine_id as target, pj.priority as preemptor_priority,
      row_number() over (partition by x.victim_id order by x.ord) > 1 as duplicate
    from unnest(p_victim_ids, p_victim_for) with ordinality as x(victim_id, for_task, ord)
    left join omega.claims c on c.cell = p_cell and c.task_id = x.victim_id
    left join lateral (select u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
                       where u.task_id = x.for_task limit 1) target on true
    left join omega.tasks pt on pt.cell = p_cell and pt.id = x.for_task
    left join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
  ), verdicts as (
    select v.for_task, case
        when v.target is null or v.preemptor_priority is null or v.duplicate then 'victim_invalid'
        when not v.held then 'victim_gone'
        when v.machine_id <> v.target then 'victim_invalid'
        when not omega.may_preempt(v.victim_priority, v.preemptor_priority) then 'victim_not_preemptible'
      end as reason
    from v
  )
  select vd.for_task, min(vd.reason) from verdicts vd where vd.reason is not null group by vd.for_task;
end $$;

-- Step 2b, gangs of victims: evictions that would leave a gang job with fewer than minAvailable
-- claims (but some) fail every preemptor taking part in them.
create function omega.plan_gang_breakers(p_cell text, p_victim_ids bigint[], p_victim_for bigint[])
returns setof bigint
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  return query
  select distinct e.f
  from unnest(p_victim_ids, p_victim_for) as e(v, f)
  join omega.claims c on c.cell = p_cell and c.task_id = e.v
  join omega.jobs j on j.cell = p_cell and j.id = c.job_id
  where j.gang_min is not null
    and (select count(*) from omega.claims c2 where c2.cell = p_cell and c2.job_id = j.id)
      - (select count(*) from omega.claims c3 where c3.cell = p_cell and c3.job_id = j.id and c3.task_id = any (p_victim_ids))
      between 1 and j.gang_min - 1;
end $$;

-- Step 3, evictions: victims give their claims back and wait again. Their reason names the job that
-- took their place only when it is their own tenant's: another tenant's job ids are not theirs to
-- learn (the commit's outcome rows name the preemptor for the scheduler).
create function omega.plan_evict(p_cell text, p_victim_ids bigint[], p_victim_for bigint[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  s text;
begin
  perform omega.release_claims(p_cell, p_victim_ids);
  for s in
    with requeued as (
      update omega.tasks t
      set state = 'pending', pending_since = now(),
          reason = case when vj.tenant_id = pj.tenant_id then format('preempted by job %s (task %s)', pt.job_id, e.f)
                        else format('preempted by a job of priority %s', pj.priority) end
      from unnest(p_victim_ids, p_victim_for) as e(v, f)
      join omega.tasks pt on pt.cell = p_cell and pt.id = e.f
      join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
      join omega.tasks vt on vt.cell = p_cell and vt.id = e.v
      join omega.jobs vj on vj.cell = p_cell and vj.id = vt.job_id
      where t.cell = p_cell and t.id = e.v and t.state in ('placed', 'running')
      returning t.job_id
    ), per_job as (
      select r.job_id, count(*) as n from requeued r group by r.job_id
    ), job_updates as (
      update omega.jobs j set pending_count = j.pending_count + pj.n, state = 'pending', blocked = false,
        updated_at = now()
      from per_job pj where j.cell = p_cell and j.id = pj.job_id
      returning j.scheduler
    )
    select distinct ju.scheduler from job_updates ju
  loop
    perform omega.wake(p_cell, s);
  end loop;
end $$;

-- Step 4, placements: the accepted decisions become claims; machines, tasks and jobs follow. A job
-- whose last pending task is placed here gives its lease back in the same statement: nobody has
-- anything left to plan for it.
create function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
begin
  with accepted as (
    select d.task_id, d.machine_id, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk
    from unnest(p_decisions) d join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    where d.reason is null
  ), new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, p_plan_id
    from accepted a
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
  ), task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
  )
  select count(*) into n from accepted;
  return n;
end $$;

-- Replaces 0003's: the same contract (arguments, verdicts, reasons, outcome rows), in steps.
create or replace function omega.commit_plan(
  p_cell text,
  p_scheduler text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text default 'incremental',
  p_conflict_mode text default 'fine',
  p_worker text default '',
  -- Preemption: claims (by task id) to evict, each for the placement of the task at the same
  -- position in p_victim_for, on the machine that placement names.
  p_victim_ids bigint[] default '{}',
  p_victim_for bigint[] default '{}'
) returns table (task_id bigint, machine_id bigint, outcome text, reason text)
-- No JIT: short OLTP work whose estimated cost can pass jit_above_cost on a big plan (a 4,000-
-- placement commit once spent 1.4 s compiling and 0.3 s executing). Generic plans: see the top.
language plpgsql set jit = off set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  started timestamptz := clock_timestamp();
  v_plan_id bigint;
  decisions omega.plan_decision[];
  ev_ids bigint[] := coalesce(p_victim_ids, '{}');
  ev_for bigint[] := coalesce(p_victim_for, '{}');
  forced_ids bigint[] := '{}';
  forced_reasons text[] := '{}';
  failing record;
  breakers bigint[];
  busy bigint[];
  v_committed integer;
begin
  if p_transaction_mode not in ('incremental', 'all-or-nothing') then
    raise exception using errcode = 'OM422', message = format('unknown transaction mode %L', p_transaction_mode);
  end if;
  if p_conflict_mode not in ('fine', 'coarse') then
    raise exception using errcode = 'OM422', message = format('unknown conflict mode %L', p_conflict_mode);
  end if;
  if cardinality(p_task_ids) is distinct from cardinality(p_machine_ids)
     or cardinality(p_task_ids) is distinct from cardinality(p_machine_versions) then
    raise exception using errcode = 'OM422', message = 'task, machine and version arrays must have the same length';
  end if;
  if cardinality(ev_ids) <> cardinality(ev_for) then
    raise exception using errcode = 'OM422', message = 'victim and victim_for arrays must have the same length';
  end if;

  busy := omega.plan_lock(p_cell, p_task_ids, p_machine_ids, ev_ids);
  if cardinality(busy) > 0 then
    select array_agg(u.t), array_fill('machine_busy'::text, array[count(*)::integer]) into forced_ids, forced_reasons
    from unnest(p_task_ids, p_machine_ids) as u(t, m) where u.m = any (busy);
  end if;

  if cardinality(ev_ids) = 0 then
    decisions := array(select d from omega.decide_plan(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, '{}', forced_ids, forced_reasons) d);
  else
    -- Preemption: decide with the victims counted as gone. A preemptor that fails gives its victims
    -- back, which can only fail more placements, so this converges (at most once per preemptor).
    select forced_ids || coalesce(array_agg(v.for_task), '{}'), forced_reasons || coalesce(array_agg(v.reason), '{}')
      into forced_ids, forced_reasons
    from omega.plan_victim_verdicts(p_cell, p_task_ids, p_machine_ids, ev_ids, ev_for) v;
    loop
      select coalesce(array_agg(x.v order by x.ord), '{}'), coalesce(array_agg(x.f order by x.ord), '{}')
        into ev_ids, ev_for
      from unnest(ev_ids, ev_for) with ordinality as x(v, f, ord)
      where x.f <> all (forced_ids);
      breakers := array(select omega.plan_gang_breakers(p_cell, ev_ids, ev_for));
      if cardinality(breakers) > 0 then
        forced_ids := forced_ids || breakers;
        forced_reasons := forced_reasons || array_fill('victim_breaks_gang'::text, array[cardinality(breakers)]);
        continue;
      end if;
      decisions := array(select d from omega.decide_plan(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
        p_transaction_mode, p_conflict_mode, ev_ids, forced_ids, forced_reasons) d);
      select coalesce(array_agg(d.task_id), '{}') as ids, coalesce(array_agg(d.reason), '{}') as reasons
        into failing
      from unnest(decisions) d
      where d.reason is not null and d.task_id = any (ev_for) and d.task_id <> all (forced_ids);
      exit when cardinality(failing.ids) = 0;
      forced_ids := forced_ids || failing.ids;
      forced_reasons := forced_reasons || failing.reasons;
    end loop;
  end if;

  v_plan_id := nextval(pg_get_serial_sequence('omega.plans', 'id'));
  if cardinality(ev_ids) > 0 then
    perform omega.plan_evict(p_cell, ev_ids, ev_for);
  end if;
  v_committed := omega.plan_apply(p_cell, p_scheduler, v_plan_id, decisions);

  -- Step 5, the log: one row per plan (omega.scheduler_stats sums them).
  insert into omega.plans (cell, id, scheduler, worker, transaction_mode, conflict_mode, attempted, committed,
    rejected, evicted, duration_ms)
  overriding system value
  select p_cell, v_plan_id, p_scheduler, p_worker, p_transaction_mode, p_conflict_mode,
    cardinality(decisions), v_committed,
    (select coalesce(jsonb_object_agg(r.reason, r.n), '{}')
     from (select d.reason, count(*) as n from unnest(decisions) d where d.reason is not null group by d.reason) r),
    cardinality(ev_ids),
    extract(epoch from clock_timestamp() - started) * 1000;

  -- One row per proposed placement, in plan order, then one per eviction.
  return query
  select d.task_id, d.machine_id,
    case when d.reason is null then 'committed' else 'rejected' end, d.reason
  from unnest(decisions) d
  order by d.ord;
  if cardinality(ev_ids) > 0 then
    return query
    select e.v, d.machine_id, 'evicted'::text, format('preempted by task %s', e.f)
    from unnest(ev_ids, ev_for) with ordinality as e(v, f, ord)
    join unnest(decisions) d on d.task_id = e.f and d.reason is null
    order by e.ord;
  end if;
end $$;
call omega.grant_entry_point('commit_plan', '{omega_scheduler}');
