-- Machine agents: the process on each machine that heartbeats, fetches the claims its machine should
-- run and reports their progress (src/api/routes/agents.ts). A machine that stops heartbeating is
-- taken down and its tasks are placed elsewhere; when it comes back it is up again and its claims no
-- longer list what moved away.
--
-- Lock order, extending the one every writer follows: jobs (id order) → machine_agents → machines
-- (id order) → the cell row.

-- One agent token per cell, stored as its sha256 like tenant tokens. Per cell rather than per
-- machine: a cell's agents are one operator's fleet and share a trust domain, so one secret per cell
-- is what gets distributed (and what one process simulating many machines holds); the API still
-- refuses a report on a task that is not on the reporting machine.
create table omega.agent_tokens (
  cell omega.name primary key references omega.cells (name),
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  created_at timestamptz not null default now()
);

-- The agent side of a machine, kept apart from omega.machines on purpose: a heartbeat every few
-- seconds per machine must not move the machine's version and changed_xid, which coarse-mode
-- commits compare and every scheduler's snapshot sync reads.
create table omega.machine_agents (
  cell omega.name not null,
  machine_id bigint not null,
  last_heartbeat timestamptz,
  -- Set when the lost-machine check took the machine down, with the state it had; its next
  -- heartbeat restores that state. (A machine an operator set down stays down.)
  lost_at timestamptz,
  lost_from text check (lost_from in ('up', 'draining')),
  -- Moved by each task the agent reports running. The machine's version moves with its claims and
  -- its state; together they are the version (ETag) of the machine's claims.
  generation bigint not null default 0,
  primary key (cell, machine_id),
  foreign key (cell, machine_id) references omega.machines (cell, id) on delete cascade
);
create index machine_agents_silent on omega.machine_agents (last_heartbeat) where lost_at is null;
create index machine_agents_lost on omega.machine_agents (cell, machine_id) where lost_at is not null;

-- The lost-machine check's own record. Silence only means a machine is lost if someone was there
-- to hear it: while PostgreSQL was down (or no check ran) no heartbeat could arrive, and every
-- machine would look silent the moment it came back. A gap between checks restarts the watch, and
-- no machine is taken down until it has been silent for the whole timeout within the watch.
create table omega.machine_watch (
  singleton boolean primary key default true check (singleton),
  watching_since timestamptz not null,
  checked_at timestamptz not null
);

-- Records a check; returns since when the watch has run without a gap longer than p_max_gap.
create function omega.watch_machines(p_max_gap interval) returns timestamptz
language sql as $$
  insert into omega.machine_watch as w (watching_since, checked_at) values (now(), now())
  on conflict (singleton) do update
    set checked_at = now(),
        watching_since = case when w.checked_at < now() - p_max_gap then now() else w.watching_since end
  returning watching_since
$$;

-- A heartbeat: the machine is alive. One that had been taken down as lost gets its state back (and
-- its capacity wakes blocked work). p_running lists the task ids the agent runs; those not claimed
-- on this machine (moved away while it was silent, cancelled, preempted) come back in `stop`.
create function omega.heartbeat(p_cell text, p_machine text, p_running bigint[] default '{}')
returns table (machine text, state text, came_back boolean, stop bigint[])
language plpgsql as $$
#variable_conflict use_column
declare
  m omega.machines;
  a omega.machine_agents;
begin
  if cardinality(p_running) > 10000 then
    raise exception using errcode = 'OM422', message = 'running: at most 10000 task ids';
  end if;
  select * into m from omega.machines where cell = p_cell and name = p_machine;
  if m.id is null then
    raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_machine, p_cell);
  end if;
  insert into omega.machine_agents as ma (cell, machine_id, last_heartbeat) values (p_cell, m.id, now())
  on conflict (cell, machine_id) do update set last_heartbeat = now()
  returning * into a;
  if a.lost_at is not null then
    update omega.machine_agents set lost_at = null, lost_from = null
    where cell = p_cell and machine_id = m.id;
    if m.state = 'down' then
      -- Back to 'up' frees capacity and wakes blocked work (set_machine_state does).
      m := omega.set_machine_state(p_cell, p_machine, a.lost_from);
    end if;
  end if;
  return query select m.name::text, m.state, a.lost_at is not null,
    array(select unnest(coalesce(p_running, '{}'))
          except select c.task_id from omega.claims c where c.cell = p_cell and c.machine_id = m.id
          order by 1);
end $$;

-- The lost-machine check, first transaction: takes one silent machine down (no new claim can land
-- on it once this commits). False when it heartbeated meanwhile or is no longer up or draining.
create function omega.mark_machine_lost(p_cell text, p_machine_id bigint, p_silence interval) returns boolean
language plpgsql as $$
declare
  v_state text;
begin
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

-- Second transaction: returns the tasks of a lost machine to pending (recorded as 'lost'), to be
-- placed elsewhere. The jobs holding claims there are locked first, then the machine, which must
-- still be down and lost (a heartbeat may have brought it back). Idempotent: the periodic check
-- calls it for every lost machine still holding claims, so a crash between the two transactions
-- only delays it. Returns how many tasks it moved.
create function omega.return_lost_tasks(p_cell text, p_machine_id bigint) returns integer
language plpgsql as $$
declare
  v_name text;
  v_tasks bigint[];
begin
  perform from omega.jobs
  where cell = p_cell and id in (select job_id from omega.claims where cell = p_cell and machine_id = p_machine_id)
  order by id for update;
  select m.name into v_name
  from omega.machines m join omega.machine_agents a on a.cell = m.cell and a.machine_id = m.id
  where m.cell = p_cell and m.id = p_machine_id and m.state = 'down' and a.lost_at is not null
  for update of m;
  if v_name is null then
    return 0;
  end if;
  v_tasks := array(select task_id from omega.claims where cell = p_cell and machine_id = p_machine_id);
  if cardinality(v_tasks) > 0 then
    perform omega.return_to_pending(p_cell, v_tasks, format('lost: machine %s stopped sending heartbeats', v_name));
  end if;
  return cardinality(v_tasks);
end $$;
