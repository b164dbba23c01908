-- A lease's UPDATE probes the jobs it picked by key, whatever the statistics say.
--
-- 0231 joined the UPDATE to unnest(ids). Where the statistics call the cell small (a young cell, or
-- a burst of submissions not yet analyzed) the planner kept that join a nested loop but put jobs on
-- the inside as one index scan over the whole cell, materialized and filtered by id: a lease of 10
-- behind 3,000 waiting jobs read 114 rows instead of 10, and behind a larger backlog it reads the
-- cell. (`id = any (ids)` fares no better: with few rows expected, one scan of the cell costs less
-- than a descent per id.) Here each picked id is looked up in a lateral subquery that OFFSET 0
-- keeps from being flattened, so it is always a key probe, and the UPDATE reaches those rows by
-- their ctid. The ctid is stable: pick_schedulable has locked every picked row (FOR UPDATE), so
-- nothing can move it before this statement, whose new snapshot sees that same version.

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
    from (select u.turn, k.row_id from unnest(v_ids) with ordinality as u(id, turn)
          cross join lateral (select k.ctid as row_id from omega.jobs k
                              where k.cell = p_cell and k.id = u.id offset 0) k) p
    where j.ctid = p.row_id
    returning j as job, p.turn
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
    from (select u.turn, k.row_id from unnest(v_ids) with ordinality as u(id, turn)
          cross join lateral (select k.ctid as row_id from omega.jobs k
                              where k.cell = p_cell and k.id = u.id offset 0) k) p
    where j.ctid = p.row_id
    returning j.id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations,
      j.max_per_machine, j.spread_by, j.gang_min, j.task_count, j.tenant_id, p.turn
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
