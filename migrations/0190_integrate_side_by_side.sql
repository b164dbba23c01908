-- The sum of changes made side by side (issues 10, 14, 15, 16), each to the landed version of the
-- same objects: what each object is once all of them apply.
--
-- Leasing: the order of SPEC "Sharing" (0145), only jobs whose dependencies allow it (0122), at
-- the cost of what is leased (0082), in one place that both lease functions call
-- (omega.pick_schedulable).
--
-- * Which jobs: pending, not parked, `ready` (dependencies met, or pre-placement asked for), and
--   not leased by a live worker.
-- * In what order: within a priority, the tenant of the lowest weighted dominant share first, each
--   job taken at the share its tenant would have once its jobs before it were placed (DRF's
--   progressive filling, 0145), FIFO within a tenant.
-- * At what cost: the tenants with such work are found by a skip scan of one index (one probe per
--   tenant); each gives at most its share of the lease, read from the head of its queue; the
--   chosen jobs are locked by key in that order, SKIP LOCKED; if that came up short, each queue is
--   read deeper. Every statement starts from the few rows at hand and looks the rest up by key, and
--   the functions allow only index scans and nested loops: their plans are generic, made once per
--   connection, and a plan made while the tables looked small must not read the backlog.

create index jobs_lease on omega.jobs (cell, scheduler, tenant_id, priority desc, id)
  where state = 'pending' and not blocked and ready;
drop index omega.jobs_queued;
drop index omega.jobs_schedulable_by_tenant;
drop index omega.jobs_ready;

create or replace function omega.pick_schedulable(p_cell text, p_scheduler text, p_limit integer)
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off
  set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
declare
  waiting bigint[];
  per_tenant integer;
  candidates bigint[];
  picked bigint[] := '{}';
begin
  -- The tenants with leasable work here: a skip scan of jobs_lease, one probe per tenant.
  with recursive w(tenant_id) as (
    (select j.tenant_id from omega.jobs j
     where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked and j.ready
     order by j.tenant_id limit 1)
    union all
    select (select j.tenant_id from omega.jobs j
            where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked and j.ready
              and j.tenant_id > w.tenant_id
            order by j.tenant_id limit 1)
    from w where w.tenant_id is not null
  )
  select array_agg(w.tenant_id) into waiting from w where w.tenant_id is not null;
  if waiting is null then
    return '{}';
  end if;
  per_tenant := greatest(1, ceil(p_limit::numeric / cardinality(waiting)))::integer;
  loop
    -- The candidates in leasing order (no lock yet): each tenant's first jobs, each at the share
    -- its tenant would have once the jobs before it were placed.
    candidates := array(
      with cap as (
        select k.cpu, k.memory, k.gpu from omega.cell_capacity k where k.cell = p_cell
      ), shares as (
        select t.tenant_id, tn.weight,
          omega.weighted_share(coalesce(u.cpu, 0), coalesce(u.memory, 0), coalesce(u.gpu, 0),
            cap.cpu, cap.memory, cap.gpu, tn.weight) as share
        from unnest(waiting) as t(tenant_id)
        join omega.tenants tn on tn.id = t.tenant_id
        left join cap on true
        left join lateral (select sum(s.cpu) as cpu, sum(s.memory) as memory, sum(s.gpu) as gpu
                           from omega.tenant_usage s
                           where s.cell = p_cell and s.tenant_id = t.tenant_id) u on true
      )
      select c.id
      from shares s
      left join cap on true
      cross join lateral (
        select j.id, j.priority, j.pending_count, j.cpu, j.memory, j.gpu from omega.jobs j
        where j.cell = p_cell and j.scheduler = p_scheduler and j.tenant_id = s.tenant_id
          and j.state = 'pending' and not j.blocked and j.ready
          and (j.lease_expires is null or j.lease_expires < now())
          and j.id <> all (picked)
        order by j.priority desc, j.id
        limit per_tenant) c
      order by c.priority desc,
        s.share + coalesce(sum(c.pending_count * omega.weighted_share(c.cpu, c.memory, c.gpu, cap.cpu, cap.memory, cap.gpu, s.weight))
          over (partition by s.tenant_id order by c.priority desc, c.id rows between unbounded preceding and 1 preceding), 0),
        c.id);
    -- …then locked in that order, by key.
    picked := picked || array(
      select c.id
      from unnest(candidates) with ordinality as u(id, turn)
      cross join lateral (
        select c.id from omega.jobs c
        -- Repeated on the locked row: a job leased by a worker that committed after this snapshot
        -- is re-checked here (EvalPlanQual), not leased twice.
        where c.cell = p_cell and c.id = u.id
          and c.state = 'pending' and not c.blocked and c.ready
          and (c.lease_expires is null or c.lease_expires < now())
        for update skip locked) c
      order by u.turn
      limit p_limit - cardinality(picked));
    exit when cardinality(picked) >= p_limit or per_tenant >= p_limit;
    per_tenant := least(p_limit, per_tenant * 4);
  end loop;
  return picked;
end $$;

create or replace function omega.lease_jobs(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns setof omega.jobs
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off
  set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
declare
  v_job bigint;
begin
  -- One job at a time: a statement on the whole key is planned as a lookup whatever the statistics.
  foreach v_job in array omega.pick_schedulable(p_cell, p_scheduler, p_limit) loop
    return query
    update omega.jobs j
    set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
    where j.cell = p_cell and j.id = v_job
    returning j.*;
  end loop;
end $$;
call omega.grant_entry_point('lease_jobs', '{omega_scheduler}');

create or replace function omega.lease_work(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns table (id bigint, priority integer, cpu bigint, memory bigint, gpu bigint, disk bigint,
  selector jsonb, affinity jsonb, tolerations jsonb, max_per_machine integer, spread_by text, gang_min integer,
  task_count integer, tenant_id bigint, pending bigint[], claimed_on bigint[],
  quota_band text, quota_cpu bigint, quota_memory bigint, quota_gpu bigint, quota_disk bigint)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off
  set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
#variable_conflict use_column
declare
  v_job bigint;
begin
  -- A scheduler no worker registered leases nothing (and a typo is an error, not an empty queue).
  if not exists (select from omega.schedulers where name = p_scheduler) then
    raise exception using errcode = 'OM422', message = format('scheduler %L is not registered', p_scheduler);
  end if;
  perform set_config('synchronous_commit', 'off', true);
  -- One job at a time, in the order leased (a plan places its jobs in this order: the lowest share
  -- takes room first); a statement on the whole key is a lookup whatever the statistics.
  foreach v_job in array omega.pick_schedulable(p_cell, p_scheduler, p_limit) loop
    return query
    with leased as (
      update omega.jobs j
      set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
      where j.cell = p_cell and j.id = v_job
      returning j.*
    )
    -- (Quantities are a domain over bigint: RETURN QUERY wants the declared types exactly.)
    select l.id, l.priority, l.cpu::bigint, l.memory::bigint, l.gpu::bigint, l.disk::bigint, l.selector, l.affinity, l.tolerations,
      l.max_per_machine, l.spread_by, l.gang_min, l.task_count, l.tenant_id,
      array(select t.id from omega.tasks t where t.cell = p_cell and t.job_id = l.id and t.state = 'pending' order by t.id),
      array(select c.machine_id from omega.claims c where c.cell = p_cell and c.job_id = l.id),
      q.band, q.cpu, q.memory, q.gpu, q.disk
    from leased l
    -- Free quota: what the ceiling leaves, and for a cohort member what its cohort can lend (0141).
    left join lateral omega.quota_free(p_cell, l.tenant_id, omega.band(l.priority)) q on true;
  end loop;
end $$;
call omega.grant_entry_point('lease_work', '{omega_scheduler}');

-- The reconcile: bounded (0080), and waking only for work whose dependencies allow a lease (0122).
create or replace function omega.wake_stale() returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  c record;
  n integer := 0;
begin
  perform set_config('synchronous_commit', 'off', true);
  for c in select name, capacity_epoch from omega.cells loop
    -- (Materialized: a LIMIT under a join may be run again for every row it joins.)
    with missed as materialized (
      select p.id from omega.jobs p
      where p.cell = c.name and p.blocked and p.state = 'pending'
        and coalesce(p.blocked_epoch, -1) < c.capacity_epoch
      order by coalesce(p.blocked_epoch, -1), p.priority desc, p.id
      limit 32
      for update skip locked)
    update omega.jobs j set blocked = false
    from missed where j.cell = c.name and j.id = missed.id;
  end loop;
  for c in
    select cl.name as cell, s.name as scheduler from omega.cells cl cross join omega.schedulers s
    where exists (select from omega.jobs j
                  where j.cell = cl.name and j.scheduler = s.name and j.state = 'pending' and not j.blocked and j.ready
                    and (j.lease_expires is null or j.lease_expires < now()))
  loop
    perform omega.wake(c.cell, c.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');

-- Event kinds: those of workflows (0121) and of the rebalancer (0160).
alter table omega.events drop constraint events_kind_check;
alter table omega.events add constraint events_kind_check check (kind in ('submitted', 'pending', 'placed',
  'running', 'succeeded', 'failed', 'cancelled', 'retried', 'lost', 'preempted', 'returned',
  'dependency-met', 'dependency-failed', 'launched', 'reserved', 'moved'));

-- Task events: a reservation is `reserved` (0121), a reclaimed task `preempted` (0147).
create or replace function omega.record_task_events() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  -- Pending tasks getting a new reason (a parked job: up to 100,000 rows a statement) move no task
  -- anywhere: two scans tell, and there is nothing to join.
  if not exists (select from new_tasks where state <> 'pending')
     and not exists (select from old_tasks where state <> 'pending') then
    return null;
  end if;
  insert into omega.events (cell, job_id, task_id, task_index, kind, machine, reason)
  select n.cell, n.job_id, n.id, n.index,
    case
      when n.state = 'placed' and n.held then 'reserved'
      when n.state <> 'pending' then n.state
      when o.state = 'failed' then 'retried'
      when n.reason like 'lost%' then 'lost'
      when n.reason like 'preempted%' or n.reason like 'reclaim%' then 'preempted'
      else 'returned'
    end,
    -- The claim of a task that is placed, running or just finished is still there when the
    -- statement's triggers run. A task returned to pending has lost it already: if it was running,
    -- its agent's machine (ran_on) is where it was lost; otherwise the previous `placed` event says.
    coalesce(
      (select m.name from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
       where c.cell = n.cell and c.task_id = n.id),
      case when o.state = 'running' then
        (select m.name from omega.machines m where m.cell = n.cell and m.id = n.ran_on) end),
    n.reason
  from new_tasks n
  join old_tasks o on o.cell = n.cell and o.id = n.id
  where n.state <> o.state and n.state <> 'cancelled';
  return null;
end $$;

