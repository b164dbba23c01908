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
--   evictions) are skipped instead of run on empty sets (0023_commit_in_steps.sql);
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
