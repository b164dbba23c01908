-- Leasing costs what it leases, not what waits.
--
-- omega.lease_jobs and omega.lease_work numbered every schedulable job of the cell and scheduler
-- (row_number() over each priority and tenant) to take the first p_limit: every lease read the
-- whole backlog. Under a backlog — a burst, an overloaded cell — each lease got slower as the
-- backlog grew, which let the backlog grow faster: in a burst run with ~6,000 waiting jobs a lease
-- took 98 ms and leases were 45 % of the database's time.
--
-- The order is the same (highest priority first; within a priority, each tenant's oldest job,
-- then each one's second oldest, …; FIFO within a tenant), taken from an index in that order:
-- * the queues — (priority, tenant) pairs with schedulable work — are found by a skip scan of the
--   index, one probe per queue, not per job;
-- * each queue gives its oldest schedulable jobs, at most its share of the lease (p_limit divided
--   among the queues, at least one each), and the turns are numbered among those few rows;
-- * if that leased fewer than p_limit — some queues were shorter than their share, or other leases
--   held rows at that instant — each queue is read deeper (4× the share, up to p_limit).
-- The cost is one probe per queue plus the rows leased (at most p_limit per queue), and the jobs
-- other workers hold at the head of each queue.
--
-- The picking is one function, omega.pick_schedulable, that both lease functions call (the
-- ordering rule in one place).

create index jobs_queued on omega.jobs (cell, scheduler, priority, tenant_id, id)
  where state = 'pending' and not blocked;
drop index omega.jobs_schedulable;

-- Locks and returns the ids of up to p_limit schedulable jobs in leasing order (SKIP LOCKED: a
-- job another transaction holds is passed over). The caller leases them in the same transaction.
--
-- Every join here starts from the few rows at hand and looks the others up by key (lateral
-- subqueries, = any), and the leasing functions allow the planner nothing but index scans and
-- nested loops: their plans are generic, made once per connection, and a generic plan made while
-- the jobs table looked small hash-joined (or bitmap-scanned) the whole cell's backlog.
create function omega.pick_schedulable(p_cell text, p_scheduler text, p_limit integer)
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off
  set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
declare
  queue_priorities integer[];
  queue_tenants bigint[];
  per_queue integer;
  picked bigint[] := '{}';
  candidates bigint[];
begin
  -- The queues, highest priority first: a skip scan of jobs_queued (backwards: priority desc).
  with recursive queues as (
    (select j.priority, j.tenant_id from omega.jobs j
     where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
     order by j.priority desc, j.tenant_id desc
     limit 1)
    union all
    select n.priority, n.tenant_id
    from queues q cross join lateral (
      select j.priority, j.tenant_id from omega.jobs j
      where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
        and (j.priority, j.tenant_id) < (q.priority, q.tenant_id)
      order by j.priority desc, j.tenant_id desc
      limit 1) n
  )
  select array_agg(q.priority), array_agg(q.tenant_id) into queue_priorities, queue_tenants from queues q;
  if queue_priorities is null then
    return '{}';
  end if;
  per_queue := greatest(1, ceil(p_limit::numeric / cardinality(queue_priorities)))::integer;
  -- Rows another lease holds right now are skipped: if the shares came up short for that, or
  -- because some queues had fewer jobs than their share, look deeper into each queue.
  loop
    -- The candidates in leasing order, read from the queues' heads (no lock yet)…
    candidates := array(
      select h.id
      from unnest(queue_priorities, queue_tenants) as q(priority, tenant_id)
      cross join lateral (
        select j.id from omega.jobs j
        where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
          and j.priority = q.priority and j.tenant_id = q.tenant_id
          and (j.lease_expires is null or j.lease_expires < now())
          and j.id <> all (picked)
        order by j.id
        limit per_queue) h
      order by q.priority desc, row_number() over (partition by q.priority, q.tenant_id order by h.id), h.id);
    -- …then locked in that order, from the candidates alone (the join must start from them).
    picked := picked || array(
      select c.id
      from unnest(candidates) with ordinality as u(id, turn)
      cross join lateral (
        select c.id from omega.jobs c
        -- Repeated on the locked row: a job leased by a worker that committed after this snapshot
        -- is re-checked here (EvalPlanQual), not leased twice.
        where c.cell = p_cell and c.id = u.id
          and c.state = 'pending' and not c.blocked and (c.lease_expires is null or c.lease_expires < now())
        for update skip locked) c
      order by u.turn
      limit p_limit - cardinality(picked));
    exit when cardinality(picked) >= p_limit or per_queue >= p_limit;
    per_queue := least(p_limit, per_queue * 4);
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
  -- One job at a time: a statement on the whole key is planned as a lookup whatever the statistics.
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
      q.band, (q.cpu - q.used_cpu)::bigint, (q.memory - q.used_memory)::bigint, (q.gpu - q.used_gpu)::bigint,
      (q.disk - q.used_disk)::bigint
    from leased l
    left join omega.quotas q on q.cell = p_cell and q.tenant_id = l.tenant_id and q.band = omega.band(l.priority);
  end loop;
end $$;
call omega.grant_entry_point('lease_work', '{omega_scheduler}');
