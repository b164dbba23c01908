-- Events: an append-only log of what happened to every job and task, so that "what happened to my
-- job?" has an answer in SQL (omega.events) and over HTTP (GET /v1/jobs/:id/events).
--
-- Events are recorded by triggers on the state columns of omega.tasks and omega.jobs, never by the
-- procedures that change them: no writer (commit_plan, cancel_job, the agent procedures, a
-- preemption, an operator in psql) can forget one. The cause of a task event is the task's own
-- `reason`, written by whoever moved it: 'lost: …' and 'preempted …' prefixes name the two ways a
-- placed task is returned to pending behind its back.
--
-- Kinds:
--   job:  submitted, pending (tasks returned), placed, running, succeeded, failed, cancelled
--   task: placed (machine), running, succeeded, failed (exit reason), retried (back to pending
--         after a failure), lost, preempted, returned (any other way back to pending, such as a
--         removed machine)
-- A task's cancellation is the job's `cancelled` event: a job of 100,000 tasks logs one row.

create table omega.events (
  cell omega.name not null,
  id bigint generated always as identity,
  job_id bigint not null,
  -- Null for an event of the job as a whole.
  task_id bigint,
  task_index integer,
  kind text not null check (kind in ('submitted', 'pending', 'placed', 'running', 'succeeded', 'failed',
    'cancelled', 'retried', 'lost', 'preempted', 'returned')),
  -- The machine's name (not its id: the event outlives a removed machine).
  machine text,
  reason text,
  at timestamptz not null default now(),
  primary key (cell, id)
);
-- The one index besides the key: every event costs its inserts, and commit_plan writes thousands.
create index events_by_job on omega.events (cell, job_id, id);

-- Append-only: history is not rewritten. (Deleting old rows for retention stays possible.)
create function omega.events_refuse_update() returns trigger language plpgsql as $$
begin
  raise exception using errcode = 'OM409', message = 'omega.events is append-only';
end $$;
create trigger events_append_only before update on omega.events
  for each statement execute function omega.events_refuse_update();

-- One set-based insert per statement, from the statement's transition tables: commit_plan moves
-- thousands of tasks in one statement, and a row trigger would run thousands of function calls.
-- The planner knows the transition tables' sizes and hash-joins them; a cancellation's rows are
-- filtered out before the join (the job's event tells it).
-- SECURITY DEFINER: events are the database's own record, written whatever role moved the task.
create function omega.record_task_events() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  -- Pending tasks getting a new reason (a parked job: up to 100,000 rows a statement) move no task
  -- anywhere: two scans tell, and there is nothing to join.
  if not exists (select from new_tasks where state <> 'pending')
     and not exists (select from old_tasks where state <> 'pending') then
    return null;
  end if;
  insert into omega.events (cell, job_id, task_id, task_index, kind, machine, reason)
  select n.cell, n.job_id, n.id, n.index,
    case
      when n.state <> 'pending' then n.state
      when o.state = 'failed' then 'retried'
      when n.reason like 'lost%' then 'lost'
      when n.reason like 'preempted%' then 'preempted'
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
create trigger tasks_events after update on omega.tasks
  referencing old table as old_tasks new table as new_tasks
  for each statement execute function omega.record_task_events();

-- Jobs change state a few at a time (one row per job, however many tasks): a row trigger whose WHEN
-- clause skips the many updates that leave the state alone (leases, pending counts). Deferred to
-- the commit, so that a job's event comes after those of the tasks that moved it, in id order.
create function omega.record_job_event() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into omega.events (cell, job_id, kind)
  values (new.cell, new.id, case when tg_op = 'INSERT' then 'submitted' else new.state end);
  return null;
end $$;
create constraint trigger jobs_submitted_event after insert on omega.jobs
  deferrable initially deferred
  for each row execute function omega.record_job_event();
create constraint trigger jobs_state_events after update of state on omega.jobs
  deferrable initially deferred
  for each row when (old.state is distinct from new.state) execute function omega.record_job_event();
