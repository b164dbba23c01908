-- omega.lease_work and omega.wake_stale of 0021, with one change each: only jobs whose dependencies
-- allow it (`ready`, 0120) are leased, or woken for. The lease predicate matches the partial index
-- jobs_ready, so jobs waiting for dependencies cost a lease nothing (they are not in the index).

create or replace function omega.lease_work(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
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
          where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked and j.ready
            and (j.lease_expires is null or j.lease_expires < now())) r on r.id = c.id
    where c.cell = p_cell and c.state = 'pending' and not c.blocked and c.ready
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
    where state = 'pending' and not blocked and ready and (lease_expires is null or lease_expires < now())
  loop
    perform omega.wake(r.cell, r.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
-- (CREATE OR REPLACE reset their SECURITY DEFINER and grants.)
call omega.grant_entry_point('lease_work', '{omega_scheduler}');
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');
