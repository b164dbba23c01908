-- A commit logs its placements itself, from the rows it has at hand; the trigger on omega.tasks
-- logs every other move of a task, as before.
--
-- omega.record_task_events (0012, last 0190) finds each moved task's machine through its claim.
-- For the hot path's one transition (pending → placed, thousands of rows a statement) that was
-- about 1 ms of a small commit's 9 (scripts/commit-cost.ts, trigger on and off), and its claim
-- lookup was planned while the claims table was young: until the statistics caught up it probed
-- the cell's claims by cell alone, once per placed task (a commit of 320 placements spent 0.84 s
-- there). plan_apply knows each placement's machine: it inserts the `placed` (or, for a held task,
-- `reserved`) events in the statement that moves the tasks, and marks that statement as logged
-- (a setting local to the transaction, cleared right after) so that the trigger skips it. Any
-- other writer — an agent's report, a cancellation, a preemption, an operator in psql — is still
-- logged by the trigger and cannot forget an event.

create or replace function omega.record_task_events() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  -- The statement logged its own moves (plan_apply).
  if current_setting('omega.task_moves_logged', true) = 'on' then
    return null;
  end if;
  -- Pending tasks getting a new reason (a parked job: up to 100,000 rows a statement) move no task
  -- anywhere: two scans tell, and there is nothing to join.
  if not exists (select from new_tasks where state <> 'pending')
     and not exists (select from old_tasks where state <> 'pending') then
    return null;
  end if;
  insert into omega.events (cell, job_id, task_id, task_index, kind, machine, reason)
  select n.cell, n.job_id, n.id, n.index,
    case
      when n.state = 'placed' and n.held then 'reserved'
      when n.state <> 'pending' then n.state
      when o.state = 'failed' then 'retried'
      when n.reason like 'lost%' then 'lost'
      when n.reason like 'preempted%' or n.reason like 'reclaim%' then 'preempted'
      else 'returned'
    end,
    -- The claim of a task that is placed, running or just finished is still there when the
    -- statement's triggers run. A task returned to pending has lost it already: if it was running,
    -- its agent's machine (ran_on) is where it was lost; otherwise the previous `placed` event says.
    coalesce(
      (select m.name from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
       where c.cell = n.cell and c.task_id = n.id),
      case when o.state = 'running' then
        (select m.name from omega.machines m where m.cell = n.cell and m.id = n.ran_on) end),
    n.reason
  from new_tasks n
  join old_tasks o on o.cell = n.cell and o.id = n.id
  where n.state <> o.state and n.state <> 'cancelled';
  return null;
end $$;

create or replace function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
begin
  perform set_config('omega.task_moves_logged', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk
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
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n
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
  )
  select count(*) into n from accepted;
  perform set_config('omega.task_moves_logged', '', true);
  return n;
end $$;
