-- Cells and machines: registration, drain, removal.

create function omega.create_cell(p_name text) returns omega.cells
language plpgsql as $$
declare
  c omega.cells;
begin
  insert into omega.cells (name) values (p_name) returning * into c;
  return c;
exception when unique_violation then
  raise exception using errcode = 'OM409', message = format('cell %L already exists', p_name);
end $$;

create function omega.check_labels(p_labels jsonb, p_taints jsonb) returns void
language plpgsql immutable as $$
begin
  if jsonb_typeof(p_labels) is distinct from 'object'
     or exists (select from jsonb_each(p_labels) e where jsonb_typeof(e.value) <> 'string') then
    raise exception using errcode = 'OM422', message = 'labels: an object of string values is required';
  end if;
  if jsonb_typeof(p_taints) is distinct from 'array'
     or exists (select from jsonb_array_elements(p_taints) t
                where jsonb_typeof(t) <> 'object' or jsonb_typeof(t -> 'key') is distinct from 'string') then
    raise exception using errcode = 'OM422', message = 'taints: an array of {key, value?} objects is required';
  end if;
end $$;

-- Registers a machine, or updates its capacity, labels and taints (idempotent: an identical PUT
-- changes nothing, not even the version). New or grown capacity wakes blocked work.
create function omega.put_machine(p_cell text, p_name text, p_resources jsonb, p_labels jsonb default '{}',
  p_taints jsonb default '[]') returns omega.machines
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
  perform omega.check_labels(p_labels, p_taints);
  insert into omega.machines as old (cell, name, cpu, memory, gpu, disk, labels, taints)
  values (p_cell, p_name, omega.parse_quantity(p_resources -> 'cpu', 'cpu'), omega.parse_quantity(p_resources -> 'memory', 'memory'),
    omega.parse_quantity(p_resources -> 'gpu', 'gpu'), omega.parse_quantity(p_resources -> 'disk', 'disk'), p_labels, p_taints)
  on conflict (cell, name) do update
    set cpu = excluded.cpu, memory = excluded.memory, gpu = excluded.gpu, disk = excluded.disk,
        labels = excluded.labels, taints = excluded.taints
    where (old.cpu, old.memory, old.gpu, old.disk, old.labels, old.taints)
      is distinct from (excluded.cpu, excluded.memory, excluded.gpu, excluded.disk, excluded.labels, excluded.taints)
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
  end if;
  raise;
end $$;

-- Sets a machine's state: 'draining' stops new placements and keeps what runs; 'up' undrains;
-- 'down' stops new placements before a removal.
create function omega.set_machine_state(p_cell text, p_name text, p_state text) returns omega.machines
language plpgsql as $$
declare
  m omega.machines;
begin
  if p_state not in ('up', 'draining', 'down') then
    raise exception using errcode = 'OM422', message = format('state: %L is not one of up, draining, down', p_state);
  end if;
  update omega.machines set state = p_state
  where cell = p_cell and name = p_name and state <> p_state returning * into m;
  if m.id is null then
    select * into m from omega.machines where cell = p_cell and name = p_name;
    if m.id is null then
      raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_name, p_cell);
    end if;
  elsif p_state = 'up' then
    perform omega.capacity_freed(p_cell);
  end if;
  return m;
end $$;

-- Removes a machine whose state is already 'down' (set it first, in its own transaction: after that
-- no new claim can land on it, so the jobs holding claims there can be locked before the machine,
-- in the order every writer uses). Its tasks return to pending and are placed elsewhere.
create function omega.remove_machine(p_cell text, p_name text) returns void
language plpgsql as $$
declare
  m omega.machines;
begin
  select * into m from omega.machines where cell = p_cell and name = p_name;
  if m.id is null then
    raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_name, p_cell);
  elsif m.state <> 'down' then
    raise exception using errcode = 'OM409', message = format('machine %L must be down before it is removed', p_name);
  end if;
  perform from omega.jobs
  where cell = p_cell and id in (select job_id from omega.claims where cell = p_cell and machine_id = m.id)
  order by id for update;
  perform omega.return_to_pending(p_cell,
    array(select task_id from omega.claims where cell = p_cell and machine_id = m.id), 'machine removed');
  delete from omega.machines where cell = p_cell and id = m.id;
  insert into omega.machine_removals (cell, machine_id) values (p_cell, m.id);
end $$;
