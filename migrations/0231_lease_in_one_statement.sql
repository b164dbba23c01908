-- A lease writes its jobs in one statement, not one statement per job.
--
-- Every UPDATE of omega.jobs pays a fixed price before its first row: its check constraints and
-- partial-index predicates are prepared, its triggers' conditions read, its indexes opened. 0190
-- leased job by job (so that each statement was a key lookup whatever the statistics), paying that
-- price for each of the 32–128 jobs of a busy lease. One UPDATE joined to the picked ids is a key
-- lookup per id as well: the functions forbid sequential scans, hash and merge joins, so the plan
-- is a nested loop over the ids probing jobs_pkey, whatever the statistics say. The rows come back
-- in the order picked (a plan places its jobs in this order: the lowest share takes room first).

create or replace function omega.lease_jobs(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns setof omega.jobs
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off
  set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
declare
  v_ids bigint[] := omega.pick_schedulable(p_cell, p_scheduler, p_limit);
begin
  if cardinality(v_ids) = 0 then
    return;
  end if;
  return query
  with leased as (
    update omega.jobs j
    set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
    from unnest(v_ids) with ordinality as u(id, turn)
    where j.cell = p_cell and j.id = u.id
    returning j as job, u.turn
  )
  select (l.job).* from leased l order by l.turn;
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
  v_ids bigint[];
begin
  -- A scheduler no worker registered leases nothing (and a typo is an error, not an empty queue).
  if not exists (select from omega.schedulers where name = p_scheduler) then
    raise exception using errcode = 'OM422', message = format('scheduler %L is not registered', p_scheduler);
  end if;
  perform set_config('synchronous_commit', 'off', true);
  v_ids := omega.pick_schedulable(p_cell, p_scheduler, p_limit);
  if cardinality(v_ids) = 0 then
    return;
  end if;
  return query
  with leased as (
    update omega.jobs j
    set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
    from unnest(v_ids) with ordinality as u(id, turn)
    where j.cell = p_cell and j.id = u.id
    returning j.id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations,
      j.max_per_machine, j.spread_by, j.gang_min, j.task_count, j.tenant_id, u.turn
  )
  -- (Quantities are a domain over bigint: RETURN QUERY wants the declared types exactly.)
  select l.id, l.priority, l.cpu::bigint, l.memory::bigint, l.gpu::bigint, l.disk::bigint, l.selector, l.affinity, l.tolerations,
    l.max_per_machine, l.spread_by, l.gang_min, l.task_count, l.tenant_id,
    array(select t.id from omega.tasks t where t.cell = p_cell and t.job_id = l.id and t.state = 'pending' order by t.id),
    array(select c.machine_id from omega.claims c where c.cell = p_cell and c.job_id = l.id),
    q.band, q.cpu, q.memory, q.gpu, q.disk
  from leased l
  -- Free quota: what the ceiling leaves, and for a cohort member what its cohort can lend (0141).
  left join lateral omega.quota_free(p_cell, l.tenant_id, omega.band(l.priority)) q on true
  order by l.turn;
end $$;
call omega.grant_entry_point('lease_work', '{omega_scheduler}');
