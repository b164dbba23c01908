-- The hot path at database speed: what a small job costs between submission and claim.
--
-- Measured before (scripts/commit-cost.ts, 1,000 machines, one 3-task job at a time, nothing else
-- running): commit_plan 5.5 ms, of which 4.5 ms was *planning* — decide_plan is a SQL function,
-- inlined into a PL/pgSQL statement whose custom plan was rebuilt at every call, as were most of
-- the other statements (their array parameters make the generic plan look worse on paper); the
-- wake-up in every submission was a graphile-worker job row whose key row every submitter upserts;
-- and a job took lease, commit and release as three transactions.
--
-- So, here:
-- * the hot functions keep generic plans (plan_cache_mode = force_generic_plan): planned once per
--   connection, not once per call; SQL-language bodies on the path become PL/pgSQL for the same
--   reason (PostgreSQL before 18 plans a SQL function's body at every call). A generic plan is
--   kept for the connection's life, so it must not depend on how big the tables were when it was
--   made: a plan made on a young cell chose sequential scans of jobs and tasks, and kept them as
--   the tables grew (commits slowed from 2 ms to 40 ms within seconds). Every access on the hot
--   path is by key, so these functions also run with enable_seqscan off: the plan is the index
--   plan, whatever the statistics said then;
-- * a wake-up is a NOTIFY (what graphile-worker's own wake-up is made of): no row, no key, and
--   identical notifications of one transaction are delivered once;
-- * leasing returns everything a plan needs in the same round trip;
-- * the commit gives back the lease of every job it places completely, so a job that is placed in
--   one go costs one lease and one commit, and no release;
-- * commit_plan is a sequence of named steps, and the steps that have nothing to do (victims,
--   evictions) are skipped instead of run on empty sets;
-- * the bookkeeping of work distribution — leases taken, renewed and given back, jobs parked, the
--   reconcile's wake-ups — commits without waiting for its WAL flush (synchronous_commit off for
--   that transaction alone): lost in a crash, it is redone by the same reconcile that recovers a
--   dead worker's leases, and nothing a user was told depends on it. Submissions and placements
--   keep waiting for theirs: an acknowledged job, or a claim an agent may act on, survives a crash.

-- Wake-ups ----------------------------------------------------------------------------------------

-- Wakes the workers of one scheduler for one cell: they listen on channel omega_wake and read the
-- payload "<cell> <scheduler>". A notification sent while no worker listens is not lost work: every
-- worker's reconcile (omega.wake_stale, every 2 s) and start-up find pending work nobody holds.
create or replace function omega.wake(p_cell text, p_scheduler text) returns void
language plpgsql as $$
begin
  perform pg_notify('omega_wake', p_cell || ' ' || p_scheduler);
end $$;
call omega.grant_entry_point('wake', '{omega_scheduler}');

-- Rules shared by every procedure -----------------------------------------------------------------

-- SPEC: a task may preempt claims of strictly lower priority, except that production never
-- preempts production. (TypeScript twin: mayPreempt in src/placement/preemption.ts; both are run
-- through test/conformance.)
create function omega.may_preempt(p_victim integer, p_preemptor integer) returns boolean
language sql immutable parallel safe as $$
  select p_victim < p_preemptor and not (p_victim >= 200 and p_preemptor >= 200)
$$;

-- Leasing -----------------------------------------------------------------------------------------

-- Leases up to p_limit schedulable jobs, as omega.lease_jobs orders them, and returns with each what
-- a plan needs: its pending task ids, the machines its placed tasks hold, and its free quota (null
-- band when no quota limits it). One round trip instead of a lease and a read.
create function omega.lease_work(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns table (id bigint, priority integer, cpu bigint, memory bigint, gpu bigint, disk bigint,
  selector jsonb, affinity jsonb, tolerations jsonb, max_per_machine integer, spread_by text, gang_min integer,
  task_count integer, tenant_id bigint, pending bigint[], claimed_on bigint[],
  quota_band text, quota_cpu bigint, quota_memory bigint, quota_gpu bigint, quota_disk bigint)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  -- A scheduler no worker registered leases nothing (and a typo is an error, not an empty queue).
  if not exists (select from omega.schedulers where name = p_scheduler) then
    raise exception using errcode = 'OM422', message = format('scheduler %L is not registered', p_scheduler);
  end if;
  perform set_config('synchronous_commit', 'off', true);
  return query
  with pick as materialized (
    -- As omega.lease_jobs: materialized, so that SKIP LOCKED is evaluated once.
    select c.id from omega.jobs c
    join (select j.id, row_number() over (partition by j.priority, j.tenant_id order by j.id) as turn
          from omega.jobs j
          where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
            and (j.lease_expires is null or j.lease_expires < now())) r on r.id = c.id
    where c.cell = p_cell and c.state = 'pending' and not c.blocked
      and (c.lease_expires is null or c.lease_expires < now())
    order by c.priority desc, r.turn, c.id
    limit p_limit
    for update of c skip locked
  ), leased as (
    update omega.jobs j
    set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
    from pick
    where j.cell = p_cell and j.id = pick.id
    returning j.*
  )
  -- (Quantities are a domain over bigint: RETURN QUERY wants the declared types exactly.)
  select l.id, l.priority, l.cpu::bigint, l.memory::bigint, l.gpu::bigint, l.disk::bigint, l.selector, l.affinity, l.tolerations,
    l.max_per_machine, l.spread_by, l.gang_min, l.task_count, l.tenant_id,
    array(select t.id from omega.tasks t where t.cell = p_cell and t.job_id = l.id and t.state = 'pending' order by t.id),
    array(select c.machine_id from omega.claims c where c.cell = p_cell and c.job_id = l.id),
    q.band, (q.cpu - q.used_cpu)::bigint, (q.memory - q.used_memory)::bigint, (q.gpu - q.used_gpu)::bigint,
    (q.disk - q.used_disk)::bigint
  from leased l
  left join omega.quotas q on q.cell = p_cell and q.tenant_id = l.tenant_id and q.band = omega.band(l.priority)
  order by l.priority desc, l.id;
end $$;
call omega.grant_entry_point('lease_work', '{omega_scheduler}');

create or replace function omega.release_leases(p_cell text, p_job_ids bigint[], p_owner text) returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  perform set_config('synchronous_commit', 'off', true);
  update omega.jobs j set lease_owner = null, lease_expires = null
  from (select id from omega.jobs
        where cell = p_cell and id = any (p_job_ids) and lease_owner = p_owner
        order by id for update) mine
  where j.cell = p_cell and j.id = mine.id;
end $$;
call omega.grant_entry_point('release_leases', '{omega_scheduler}');

create or replace function omega.renew_leases(p_cell text, p_job_ids bigint[], p_owner text, p_lease_seconds integer)
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
begin
  perform set_config('synchronous_commit', 'off', true);
  with mine as (
    select id from omega.jobs
    where cell = p_cell and id = any (p_job_ids) and lease_owner = p_owner
    order by id
    for update skip locked
  ), renewed as (
    update omega.jobs j set lease_expires = now() + make_interval(secs => p_lease_seconds)
    from mine where j.cell = p_cell and j.id = mine.id
    returning j.id
  )
  select count(*)::integer into n from renewed;
  return n;
end $$;
call omega.grant_entry_point('renew_leases', '{omega_scheduler}');

-- Parking, with a reconcile for the wake-up it can miss. capacity_freed unparks a cell's blocked
-- jobs SKIP LOCKED (it holds machine locks, and jobs are locked before machines by every writer),
-- so a parked job whose row another transaction held at that instant — a commit that named it as a
-- victim and then evicted nothing, say — stayed parked although room had appeared (the race test
-- caught one, idle with room for its tasks). A parked job now records the capacity epoch it was
-- parked on, and the reconcile unparks any job parked on an epoch older than its cell's.
alter table omega.jobs add column blocked_epoch bigint;
create index jobs_parked on omega.jobs (cell, id) where blocked and state = 'pending';

-- As in 0004, without waiting for the WAL flush (see the top), for the lease holder only, and
-- recording the epoch.
create or replace function omega.park_job(p_cell text, p_job_id bigint, p_owner text, p_seen_epoch bigint, p_reason text)
returns boolean
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  current_epoch bigint;
begin
  perform set_config('synchronous_commit', 'off', true);
  -- Only the lease holder parks a job: a worker whose lease lapsed must not write the reason
  -- another worker's tasks show, nor park work that worker is placing.
  perform from omega.jobs where cell = p_cell and id = p_job_id and lease_owner = p_owner for update;
  if not found then
    return false;
  end if;
  select capacity_epoch into current_epoch from omega.cells where name = p_cell for share;
  update omega.tasks set reason = p_reason where cell = p_cell and job_id = p_job_id and state = 'pending';
  if current_epoch > p_seen_epoch then
    perform omega.release_leases(p_cell, array[p_job_id], p_owner);
    return false;
  end if;
  update omega.jobs set blocked = true, blocked_epoch = current_epoch, lease_owner = null, lease_expires = null
  where cell = p_cell and id = p_job_id and state = 'pending';
  return true;
end $$;
call omega.grant_entry_point('park_job', '{omega_scheduler}');

-- The reconcile every worker runs: wakes the schedulers of pending work nobody holds, after
-- unparking the jobs that missed an unpark (parked on an older capacity epoch than their cell's).
create or replace function omega.wake_stale() returns integer
language plpgsql as $$
declare
  r record;
  n integer := 0;
begin
  perform set_config('synchronous_commit', 'off', true);
  update omega.jobs j set blocked = false
  from (select p.cell, p.id from omega.jobs p join omega.cells c on c.name = p.cell
        where p.blocked and p.state = 'pending' and coalesce(p.blocked_epoch, -1) < c.capacity_epoch
        for update of p skip locked) missed
  where j.cell = missed.cell and j.id = missed.id;
  for r in
    select distinct cell, scheduler from omega.jobs
    where state = 'pending' and not blocked and (lease_expires is null or lease_expires < now())
  loop
    perform omega.wake(r.cell, r.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');

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
