-- record_task_events (0012): a reclaimed task (plan_evict's reason "reclaim: …", 0146) is a
-- preemption: its event's kind is `preempted`, its reason says reclaim. Changed: one condition.

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
