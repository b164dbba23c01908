-- lease_work (0021) with the leasing order of SPEC "Sharing": within a priority, the tenant with the
-- lowest weighted dominant share first (shares kept as rows, 0140_tenant_shares.sql), FIFO within a
-- tenant; its rows come back in that order (a plan places jobs in the order it gets them). It
-- replaces 0021's round-robin by job, which gave a tenant of one 1,000-task job and one
-- of a thousand one-task jobs the same turns. Only the `pick` step changed; what it costs: one index
-- probe per tenant with schedulable work here, and at most p_limit jobs read per such tenant — not
-- every pending job of the cell, as the round-robin's window over all of them did. The free quota
-- it returns comes from omega.quota_free (0141): for a cohort member, what its cohort can lend.

-- The order the lease reads: a tenant's schedulable jobs by priority, then age.
create index jobs_schedulable_by_tenant on omega.jobs (cell, scheduler, tenant_id, priority desc, id)
  where state = 'pending' and not blocked;

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
  with recursive waiting(tenant_id) as (
    -- The tenants with schedulable jobs here, one index probe each (a loose index scan).
    (select j.tenant_id from omega.jobs j
     where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
     order by j.tenant_id limit 1)
    union all
    select (select j.tenant_id from omega.jobs j
            where j.cell = p_cell and j.scheduler = p_scheduler and j.state = 'pending' and not j.blocked
              and j.tenant_id > w.tenant_id
            order by j.tenant_id limit 1)
    from waiting w where w.tenant_id is not null
  ), cap as (
    select k.cpu, k.memory, k.gpu from omega.cell_capacity k where k.cell = p_cell
  ), shares as (
    select w.tenant_id, tn.weight,
      omega.weighted_share(coalesce(u.cpu, 0), coalesce(u.memory, 0), coalesce(u.gpu, 0), cap.cpu, cap.memory, cap.gpu, tn.weight) as share
    from waiting w
    join omega.tenants tn on tn.id = w.tenant_id
    left join cap on true
    left join lateral (select sum(s.cpu) as cpu, sum(s.memory) as memory, sum(s.gpu) as gpu from omega.tenant_usage s
                       where s.cell = p_cell and s.tenant_id = w.tenant_id) u on true
  ), candidates as (
    -- Each tenant's first p_limit free jobs, FIFO within a priority. A job is served at the share its
    -- tenant would have once its jobs before it were placed (DRF's progressive filling), so one
    -- lease interleaves tenants instead of handing all of it to whoever is lowest now.
    select c.id, c.priority,
      s.share + coalesce(sum(c.pending_count * omega.weighted_share(c.cpu, c.memory, c.gpu, cap.cpu, cap.memory, cap.gpu, s.weight))
        over (partition by s.tenant_id order by c.priority desc, c.id rows between unbounded preceding and 1 preceding), 0) as at_share
    from shares s
    left join cap on true
    cross join lateral (
      select j.id, j.priority, j.pending_count, j.cpu, j.memory, j.gpu from omega.jobs j
      where j.cell = p_cell and j.scheduler = p_scheduler and j.tenant_id = s.tenant_id
        and j.state = 'pending' and not j.blocked and (j.lease_expires is null or j.lease_expires < now())
      order by j.priority desc, j.id
      limit p_limit) c
  ), pick as materialized (
    -- Within a priority, the lowest weighted dominant share first (SPEC "Sharing"). Materialized,
    -- so that SKIP LOCKED is evaluated once.
    select c.id from omega.jobs c
    join candidates r on r.id = c.id
    where c.cell = p_cell and c.state = 'pending' and not c.blocked
      and (c.lease_expires is null or c.lease_expires < now())
    order by c.priority desc, r.at_share, c.id
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
    q.band, q.cpu, q.memory, q.gpu, q.disk
  from leased l
  -- In the order leased (a plan places its jobs in this order: the lowest share takes room first).
  join candidates r on r.id = l.id
  -- Free quota: what the ceiling leaves, and for a cohort member what its cohort can lend (0141).
  left join lateral omega.quota_free(p_cell, l.tenant_id, omega.band(l.priority)) q on true
  order by l.priority desc, r.at_share, l.id;
end $$;
call omega.grant_entry_point('lease_work', '{omega_scheduler}');
