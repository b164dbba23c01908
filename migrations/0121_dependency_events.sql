-- Events of workflows (0120 and after): a dependency met or failed (job events), a periodic job's
-- launch (job event, reason names the periodic job and its scheduled time), and a pre-placed task's
-- reservation (a task event in place of `placed` while its job waits for dependencies).
alter table omega.events drop constraint events_kind_check;
alter table omega.events add constraint events_kind_check check (kind in ('submitted', 'pending', 'placed',
  'running', 'succeeded', 'failed', 'cancelled', 'retried', 'lost', 'preempted', 'returned',
  'dependency-met', 'dependency-failed', 'launched', 'reserved'));

-- As in 0012, with one change: a task placed while held (a reservation) logs `reserved`.
create or replace function omega.record_task_events() returns trigger
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
      when n.state = 'placed' and n.held then 'reserved'
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
