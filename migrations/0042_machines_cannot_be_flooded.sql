-- Machines that cannot be flooded, and machines that never speak (issue 17).

-- put_machine takes the machine's task cap (maxTasks; null keeps the current one, 110 for a new
-- machine). A new argument list is a new function: the old one is dropped so that a five-argument
-- call is not ambiguous, and the entry point's grants are made again.
drop function omega.put_machine(text, text, jsonb, jsonb, jsonb);

create function omega.put_machine(p_cell text, p_name text, p_resources jsonb, p_labels jsonb default '{}',
  p_taints jsonb default '[]', p_max_tasks integer default null) returns omega.machines
language plpgsql as $$
declare
  m omega.machines;
  v_constraint text;
begin
  if not exists (select from omega.cells where name = p_cell) then
    raise exception using errcode = 'OM404', message = format('cell %L does not exist', p_cell);
  end if;
  perform omega.check_resources(p_resources);
  if p_name is null or p_name !~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$' then
    raise exception using errcode = 'OM422', message = format('name: %L is not a valid machine name', p_name);
  end if;
  perform omega.check_labels(coalesce(p_labels, 'null'), coalesce(p_taints, 'null'));
  if p_max_tasks is not null and p_max_tasks not between 1 and 100000 then
    raise exception using errcode = 'OM422', message = 'maxTasks: a whole number from 1 to 100000 is required';
  end if;
  insert into omega.machines as old (cell, name, cpu, memory, gpu, disk, labels, taints, max_tasks)
  values (p_cell, p_name, omega.parse_quantity(p_resources -> 'cpu', 'cpu'), omega.parse_quantity(p_resources -> 'memory', 'memory'),
    omega.parse_quantity(p_resources -> 'gpu', 'gpu'), omega.parse_quantity(p_resources -> 'disk', 'disk'), p_labels, p_taints,
    coalesce(p_max_tasks, 110))
  on conflict (cell, name) do update
    set cpu = excluded.cpu, memory = excluded.memory, gpu = excluded.gpu, disk = excluded.disk,
        labels = excluded.labels, taints = excluded.taints,
        max_tasks = coalesce(p_max_tasks, old.max_tasks)
    where (old.cpu, old.memory, old.gpu, old.disk, old.labels, old.taints, old.max_tasks)
      is distinct from (excluded.cpu, excluded.memory, excluded.gpu, excluded.disk, excluded.labels, excluded.taints,
                        coalesce(p_max_tasks, old.max_tasks))
  returning * into m;
  if m.id is null then
    select * into m from omega.machines where cell = p_cell and name = p_name;
  else
    perform omega.capacity_freed(p_cell);
  end if;
  return m;
exception when check_violation then
  get stacked diagnostics v_constraint := constraint_name;
  if v_constraint like 'machines_used_%' then
    raise exception using errcode = 'OM409',
      message = format('machine %L: the new capacity is below what its current claims use', p_name);
  elsif v_constraint = 'machines_max_tasks' then
    raise exception using errcode = 'OM409',
      message = format('machine %L: maxTasks is below the number of tasks it holds now', p_name);
  end if;
  raise;
end $$;
call omega.grant_entry_point('put_machine', '{omega_api}');

-- An agent's reports on many tasks of its machine in one call: [{task, state, reason?}, …], at
-- most 1000. Each is omega.report_task's, and one refused report (404, 409, 422) does not undo the
-- others: it comes back as its own row with its status and detail. The jobs are locked first, in id
-- order, as every writer locks them (each report then locks the machine and the cell row, which
-- the batch holds to its end).
create function omega.report_tasks(p_cell text, p_machine text, p_reports jsonb)
returns table (task_id bigint, status integer, state text, job_state text, reason text, detail text)
language plpgsql as $$
#variable_conflict use_column
declare
  r jsonb;
  v_task bigint;
  v_row record;
  v_code text;
  v_message text;
begin
  if jsonb_typeof(p_reports) is distinct from 'array' or jsonb_array_length(p_reports) > 1000 then
    raise exception using errcode = 'OM422', message = 'reports: an array of at most 1000 {task, state, reason?} is required';
  end if;
  if not exists (select from omega.machines m where m.cell = p_cell and m.name = p_machine) then
    raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_machine, p_cell);
  end if;
  perform from omega.jobs j
  where j.cell = p_cell and j.id in (
    select t.job_id from omega.tasks t
    where t.cell = p_cell and t.id in (select (e ->> 'task')::bigint from jsonb_array_elements(p_reports) e
                                       where omega.is_whole(e -> 'task', 1, 9007199254740991)))
  order by j.id for update;
  for r in select value from jsonb_array_elements(p_reports) loop
    v_task := case when omega.is_whole(r -> 'task', 1, 9007199254740991) then (r ->> 'task')::bigint end;
    begin
      if jsonb_typeof(r) <> 'object' or v_task is null
         or exists (select from jsonb_object_keys(r) k where k not in ('task', 'state', 'reason'))
         or jsonb_typeof(r -> 'state') is distinct from 'string'
         or (r ? 'reason' and jsonb_typeof(r -> 'reason') <> 'string') then
        raise exception using errcode = 'OM422', message = 'a report is {task: id, state: running|succeeded|failed, reason?: string}';
      end if;
      select * into v_row from omega.report_task(p_cell, p_machine, v_task, r ->> 'state', r ->> 'reason');
      return query select v_row.task_id, 200, v_row.state, v_row.job_state, v_row.reason, null::text;
    exception when sqlstate 'OM404' or sqlstate 'OM409' or sqlstate 'OM422' then
      get stacked diagnostics v_code := returned_sqlstate, v_message := message_text;
      return query select v_task, substr(v_code, 3)::integer, null::text, null::text, null::text, v_message;
    end;
  end loop;
end $$;
call omega.grant_entry_point('report_tasks', '{omega_api}');

-- The lost-machine check, first transaction, for machines that never spoke as well. In a cell with
-- an agent token — a cell whose machines are run by agents — a machine with no heartbeat yet counts
-- as silent since its registration, so one registered and never run (or registered on purpose as a
-- black hole by an agent-token holder) is taken down after the same timeout as a silent one. A cell
-- without agents (machines managed by hand, simulated, benchmarked) has no heartbeats to expect.
create or replace function omega.mark_machine_lost(p_cell text, p_machine_id bigint, p_silence interval) returns boolean
language plpgsql as $$
declare
  v_state text;
begin
  -- A machine never heard from gets its agent row, heard from at registration.
  insert into omega.machine_agents (cell, machine_id, last_heartbeat)
  select m.cell, m.id, m.created_at from omega.machines m
  where m.cell = p_cell and m.id = p_machine_id and exists (select from omega.agent_tokens t where t.cell = p_cell)
  on conflict (cell, machine_id) do nothing;
  update omega.machine_agents a set last_heartbeat = m.created_at
  from omega.machines m
  where a.cell = p_cell and a.machine_id = p_machine_id and a.last_heartbeat is null
    and m.cell = a.cell and m.id = a.machine_id and exists (select from omega.agent_tokens t where t.cell = p_cell);
  perform from omega.machine_agents
  where cell = p_cell and machine_id = p_machine_id and lost_at is null and last_heartbeat < now() - p_silence
  for update;
  if not found then
    return false;
  end if;
  select state into v_state from omega.machines where cell = p_cell and id = p_machine_id for update;
  if v_state is distinct from 'up' and v_state is distinct from 'draining' then
    return false;
  end if;
  update omega.machine_agents set lost_at = now(), lost_from = v_state
  where cell = p_cell and machine_id = p_machine_id;
  perform omega.set_machine_state(p_cell, (select name from omega.machines where cell = p_cell and id = p_machine_id), 'down');
  return true;
end $$;
call omega.grant_entry_point('mark_machine_lost', '{omega_scheduler}');

-- The task cap beside the task count it caps (a column added at the end: the view's other columns
-- are unchanged).
create or replace view omega.machine_usage as
select m.cell, m.name as machine, m.state,
  m.cpu as capacity_cpu, m.memory as capacity_memory, m.gpu as capacity_gpu, m.disk as capacity_disk,
  coalesce(c.cpu, 0)::bigint as used_cpu, coalesce(c.memory, 0)::bigint as used_memory,
  coalesce(c.gpu, 0)::bigint as used_gpu, coalesce(c.disk, 0)::bigint as used_disk,
  coalesce(c.tasks, 0)::integer as tasks,
  m.labels, m.taints, m.version, m.id as machine_id, m.max_tasks
from omega.machines m
left join (
  select cell, machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk,
    count(*) as tasks
  from omega.claims group by cell, machine_id
) c on c.cell = m.cell and c.machine_id = m.id;
