-- lease_jobs could hand out more than p_limit jobs. Its pick was a LIMIT … FOR UPDATE SKIP LOCKED
-- subquery joined into the UPDATE; when a picked row had been changed by a concurrent commit, the
-- UPDATE's recheck ran the subquery again, and each run locked another job (seen by the omega
-- bench: a worker with batchSize 1 leased 2–5 jobs at a time, so plans were not one job each).
-- A materialized CTE is evaluated exactly once: at most p_limit jobs, whatever runs alongside.
create or replace function omega.lease_jobs(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns setof omega.jobs
language sql as $$
  with pick as materialized (
    select id from omega.jobs
    where cell = p_cell and scheduler = p_scheduler and state = 'pending' and not blocked
      and (lease_expires is null or lease_expires < now())
    order by priority desc, id
    limit p_limit
    for update skip locked
  )
  update omega.jobs j
  set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
  from pick
  where j.cell = p_cell and j.id = pick.id
  returning j.*
$$;
