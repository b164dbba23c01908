-- Lease heartbeat: a scheduler worker holds its leases only while it lives.
--
-- Leases are short (seconds) and a live worker renews those it holds every second, so the leases of
-- a worker that dies (SIGKILL, lost host) lapse within one lease period and the stale sweep hands
-- its work to the others — instead of waiting for a long fixed lease, or for graphile-worker's
-- four-hour lock expiry on the wake-up it was running.

-- Extends the leases p_owner still holds on these jobs; returns how many. A job locked by a commit
-- or a cancellation right now is skipped, not waited for (the next beat renews it); jobs are locked
-- in id order, as every writer locks them.
create function omega.renew_leases(p_cell text, p_job_ids bigint[], p_owner text, p_lease_seconds integer)
returns integer
language sql as $$
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
  select count(*)::integer from renewed
$$;

-- The scheduler role's entry point (see 0009_roles.sql).
call omega.grant_entry_point('renew_leases', '{omega_scheduler}');
