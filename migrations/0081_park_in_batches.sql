-- Parking in batches: a worker that finds a leased batch fitting nowhere (a full cell) parks it in
-- one round trip, not one per job. As omega.park_job (0021) for each job: only the lease holder
-- parks, each job's pending tasks show their own reason, and nothing is parked if capacity was
-- freed since the plan's snapshot (the jobs are given back, to be planned again). Returns the ids
-- of the jobs parked.
create function omega.park_jobs(p_cell text, p_job_ids bigint[], p_owner text, p_seen_epoch bigint, p_reasons text[])
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  mine bigint[];
  current_epoch bigint;
  parked bigint[];
begin
  perform set_config('synchronous_commit', 'off', true);
  if cardinality(p_job_ids) is distinct from cardinality(p_reasons) then
    raise exception using errcode = 'OM422', message = 'park_jobs: one reason per job is required';
  end if;
  select coalesce(array_agg(h.id), '{}') into mine
  from (select id from omega.jobs
        where cell = p_cell and id = any (p_job_ids) and lease_owner = p_owner
        order by id for update) h;
  if cardinality(mine) = 0 then
    return '{}';
  end if;
  select capacity_epoch into current_epoch from omega.cells where name = p_cell for share;
  update omega.tasks t set reason = r.reason
  from unnest(p_job_ids, p_reasons) as r(job_id, reason)
  where t.cell = p_cell and t.job_id = r.job_id and r.job_id = any (mine) and t.state = 'pending';
  if current_epoch > p_seen_epoch then
    perform omega.release_leases(p_cell, mine, p_owner);
    return '{}';
  end if;
  with done as (
    update omega.jobs set blocked = true, blocked_epoch = current_epoch, lease_owner = null, lease_expires = null
    where cell = p_cell and id = any (mine) and state = 'pending'
    returning id
  )
  select coalesce(array_agg(id), '{}') into parked from done;
  return parked;
end $$;
call omega.grant_entry_point('park_jobs', '{omega_scheduler}');

-- One job: the same procedure (kept for the workers and scripts that call it).
create or replace function omega.park_job(p_cell text, p_job_id bigint, p_owner text, p_seen_epoch bigint, p_reason text)
returns boolean
language plpgsql as $$
begin
  return cardinality(omega.park_jobs(p_cell, array[p_job_id], p_owner, p_seen_epoch, array[p_reason])) > 0;
end $$;
call omega.grant_entry_point('park_job', '{omega_scheduler}');
