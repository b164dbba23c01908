-- The pending-task count kept per row, only for the rows whose count changes.
--
-- 0321's statement triggers ran for every statement that wrote omega.jobs, each capturing the
-- statement's rows: a lease (which changes no count) as well as a submission or a commit. Under
-- `omega bench latency` at 200 jobs/s they ran 9,072 times in 30 s at 212 µs each (1.9 s), more
-- than the sums they replaced (tenant_pending_tasks had taken 1.1 s in a run of 0320).
--
-- Now a row trigger whose WHEN clause (evaluated without calling anything) lets through only a row
-- whose count changes: a submitted job, a cancelled or returned one; never a lease. The commit's
-- placements, many jobs at once, are counted by plan_apply itself in one row a tenant, as it logs
-- their task events (0233), and its statement tells the trigger so (omega.pending_counted).

drop trigger jobs_pending_inserted on omega.jobs;
drop trigger jobs_pending_updated on omega.jobs;
drop trigger jobs_pending_deleted on omega.jobs;
drop trigger jobs_pending_truncated on omega.jobs;
drop function omega.jobs_count_pending();

create function omega.job_counts_pending() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from omega.tenant_pending;
    return null;
  end if;
  -- (NEW is null for a delete, OLD for an insert.)
  insert into omega.tenant_pending as p (tenant_id, backend, tasks)
  values (coalesce(new.tenant_id, old.tenant_id), pg_backend_pid(),
    coalesce(case when new.state = 'pending' then new.pending_count end, 0)
      - coalesce(case when old.state = 'pending' then old.pending_count end, 0))
  on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks;
  return null;
end $$;
revoke execute on function omega.job_counts_pending() from public;

create trigger jobs_pending_inserted after insert on omega.jobs
  for each row when (new.state = 'pending' and new.pending_count <> 0)
  execute function omega.job_counts_pending();
create trigger jobs_pending_updated after update on omega.jobs
  for each row when (
    case when old.state = 'pending' then old.pending_count else 0 end
      <> case when new.state = 'pending' then new.pending_count else 0 end
    and current_setting('omega.pending_counted', true) is distinct from 'on')
  execute function omega.job_counts_pending();
create trigger jobs_pending_deleted after delete on omega.jobs
  for each row when (old.state = 'pending' and old.pending_count <> 0)
  execute function omega.job_counts_pending();
create trigger jobs_pending_truncated after truncate on omega.jobs
  for each statement execute function omega.job_counts_pending();

-- plan_apply (0252), counting its placements out of the tenants' backlogs.
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
  ), task_events as (
    -- What omega.record_task_events would log for these moves (it skips this statement).
    insert into omega.events (cell, job_id, task_id, task_index, kind, machine)
    select p_cell, t.job_id, t.id, t.index, case when t.held then 'reserved' else 'placed' end, t.machine
    from task_updates t
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
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
