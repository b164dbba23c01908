-- A submission's jobs counted in their tenants' backlog once per statement (session 20).
--
-- Each job inserted fired omega.job_counts_pending (a row trigger, SECURITY DEFINER) and its
-- upsert of the tenant's share of tenant_pending: ~35 µs a job of a batch's ~250. omega.write_jobs
-- now counts its jobs itself, one upsert per tenant in its statement, as omega.plan_apply does for
-- the tasks it places (0323), and the row trigger skips its statement by omega.pending_counted
-- (set aside on every entry point since 0331). Inserts by anything else are counted as before.

drop trigger jobs_pending_inserted on omega.jobs;
create trigger jobs_pending_inserted after insert on omega.jobs
  for each row when (new.state = 'pending' and new.pending_count <> 0
    and current_setting('omega.pending_counted', true) is distinct from 'on')
  execute function omega.job_counts_pending();

-- omega.write_jobs (0343), counting its jobs' tasks.
create or replace function omega.write_jobs(p_jobs omega.jobs[]) returns bigint[]
language plpgsql as $$
declare
  v_ids bigint[];
begin
  perform set_config('omega.pending_counted', 'on', true);
  -- One statement: the ids drawn in the jobs' order (as the column's identity would), the jobs, their
  -- tasks (whose references are checked at its end, when the jobs are there).
  with numbered as materialized (
    select j.*, nextval('omega.jobs_id_seq') as job_id from unnest(p_jobs) with ordinality as j
  ), jobs as (
    insert into omega.jobs (id, cell, tenant_id, name, priority, scheduler, task_count, pending_count,
      cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min, locality,
      labels, ports, vocabulary, runtime_min_ms, runtime_max_ms, client_token, request_hash, max_unavailable)
    overriding system value
    select j.job_id, j.cell, j.tenant_id, j.name, j.priority, j.scheduler, j.task_count,
      j.pending_count, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations, j.max_per_machine,
      j.spread_by, j.gang_min, j.locality, coalesce(j.labels, '{}'), coalesce(j.ports, '{}'), j.vocabulary,
      j.runtime_min_ms, j.runtime_max_ms, j.client_token, j.request_hash, j.max_unavailable
    from numbered j
  ), tasks as (
    insert into omega.tasks (cell, job_id, index)
    select j.cell, j.job_id, i from numbered j cross join lateral generate_series(0, j.task_count - 1) as i
  ), pending_counts as (
    -- What omega.job_counts_pending would count for these jobs (it skips this statement): each job's
    -- tasks join its tenant's backlog.
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select j.tenant_id, pg_backend_pid(), sum(j.pending_count) from numbered j
    group by j.tenant_id order by j.tenant_id
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks
  )
  select array_agg(j.job_id order by j.ordinality) into v_ids from numbered j;
  perform set_config('omega.pending_counted', '', true);
  -- maxRetries, where given (the column's default otherwise), as submit_job set it after the insert.
  if exists (select from unnest(p_jobs) j where j.max_retries is not null) then
    update omega.jobs t set max_retries = j.max_retries
    from unnest(p_jobs) with ordinality as j
    where j.max_retries is not null and t.cell = j.cell and t.id = v_ids[j.ordinality];
  end if;
  perform omega.wake(w.cell, w.scheduler) from (select distinct j.cell, j.scheduler from unnest(p_jobs) j) w;
  return v_ids;
end $$;
