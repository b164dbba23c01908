-- The commit logs its jobs' state changes with its tasks' placements, in one statement.
--
-- A job that a commit placed in full was logged by the deferred row trigger jobs_state_events
-- (0012) at the commit: a trigger call, an insert of its own and a second notification of the
-- event feed (notify_events runs once an inserting statement). plan_apply already logs its tasks'
-- events itself (0233); it now logs their jobs' state changes in the same insert, after them, and
-- the trigger's WHEN clause skips a row the statement that set omega.task_moves_logged updated
-- (only plan_apply sets it). Serial, 3-placement commits (scripts/commit-cost.ts): see the README
-- (the hot path, fifteenth round).

drop trigger jobs_state_events on omega.jobs;
create constraint trigger jobs_state_events after update of state on omega.jobs
  deferrable initially deferred
  for each row when (old.state is distinct from new.state
    and current_setting('omega.task_moves_logged', true) is distinct from 'on')
  execute function omega.record_job_event();

-- plan_apply (0323), logging its jobs' state changes.
create or replace function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
begin
  perform set_config('omega.task_moves_logged', 'on', true);
  perform set_config('omega.claims_verified', 'on', true);
  perform set_config('omega.pending_counted', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk,
      j.state as job_state
    from unnest(p_decisions) d
    join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    join omega.machines m on m.cell = p_cell and m.id = d.machine_id
    where d.reason is null
  ), new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, p_plan_id
    from accepted a
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n,
        version = m.version + 1, changed_xid = pg_current_xact_id()
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
  ), task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
    returning t.id, t.job_id, t.index, t.held, a.machine
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n, min(a.job_state) as old_state from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
    returning j.id, j.state, a.old_state
  ), moves_logged as (
    -- What omega.record_task_events and omega.record_job_event would log for these moves (they skip
    -- this statement): each task placed, then each job whose state changed.
    insert into omega.events (cell, job_id, task_id, task_index, kind, machine)
    select p_cell, t.job_id, t.id, t.index, case when t.held then 'reserved' else 'placed' end, t.machine
    from task_updates t
    union all
    select p_cell, u.id, null, null, u.state, null from job_updates u where u.state is distinct from u.old_state
  ), pending_counts as (
    -- What omega.job_counts_pending would count for these jobs (it skips this statement): a placed
    -- task of a pending job leaves the tenant's backlog (a job of another state was not in it).
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select a.tenant_id, pg_backend_pid(), -count(*) from accepted a where a.job_state = 'pending'
    group by a.tenant_id order by a.tenant_id
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks
  )
  select count(*) into n from accepted;
  perform set_config('omega.task_moves_logged', '', true);
  perform set_config('omega.claims_verified', '', true);
  perform set_config('omega.pending_counted', '', true);
  return n;
end $$;
