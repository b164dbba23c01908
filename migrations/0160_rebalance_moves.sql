-- Moves: the rebalancer's commit (issue 16). A move takes a task's claim off one machine and puts
-- the same task on another in one transaction, or does nothing: a task is never without a claim
-- between two machines, as any other transaction sees it.
--
-- The placement half of a move is judged by omega.decide_plan itself — the rules every scheduler's
-- placements obey (capacity, constraints, spread, quota, gang, and whatever later migrations add
-- there) — in a subtransaction that is always rolled back (move_probe): decide_plan judges pending
-- tasks, so the probe releases the claim and makes the task pending, asks, and undoes both. The
-- real move (move_apply) then swaps the claim in place, without the task ever passing through
-- `pending`. On top of the placement rules, a move must pass the rebalancer's own (move_verdict):
--   claim_moved         the task's claim is no longer on the machine the plan saw (another move won)
--   task_not_placed     the task holds no claim (finished, cancelled, pending again)
--   same_machine        from and to are the same machine
--   priority            a move made to make room for a job may only move work of that job's
--                       priority or lower (never production for batch)
--   disruption_budget   the job's maxUnavailable would be exceeded
--   recently_moved      the task moved within the profile's cooldown
--   undoes_recent_move  a recent move went the other way between these two machines
--   rate_limited        the cell had its profile's maxMovesPerMinute moves in the last minute
--   machine_busy        another commit holds one of the two machines right now
-- and decide_plan's reasons for the target (insufficient_resources, constraints_not_met, ...).

-- The job spec's disruptionBudget.maxUnavailable (SPEC "Rebalancing"); null: no budget.
alter table omega.jobs add column max_unavailable integer check (max_unavailable between 0 and 100000);

-- The moves log: the rebalancer's rate limit, cooldown and no-undo rule read it, and so does the
-- disruption budget (a task moved while it ran is away until its new machine runs it).
create table omega.moves (
  cell omega.name not null,
  id bigint generated always as identity,
  task_id bigint not null,
  job_id bigint not null,
  -- Machine ids (the names are in the `moved` event, which outlives a removed machine).
  from_machine bigint not null,
  to_machine bigint not null,
  was_running boolean not null,
  scheduler omega.name not null,
  strategy text not null default '' check (length(strategy) <= 100),
  plan_id bigint not null,
  moved_at timestamptz not null default now(),
  primary key (cell, id)
);
create index moves_by_time on omega.moves (cell, moved_at);
create index moves_by_task on omega.moves (cell, task_id, moved_at);

-- A `moved` event (machine: where to; reason: from where, by whom, which strategy).
alter table omega.events drop constraint events_kind_check;
alter table omega.events add constraint events_kind_check check (kind in ('submitted', 'pending', 'placed',
  'running', 'succeeded', 'failed', 'cancelled', 'retried', 'lost', 'preempted', 'returned', 'moved'));

-- The built-in rebalancer is a scheduler like the others (its moves are its plans in
-- omega.scheduler_stats). kind=rebalance: it moves running work and places no job of its own.
insert into omega.schedulers (name, profile) values ('rebalance', '{"kind": "rebalance"}')
on conflict (name) do nothing;

-- Whether work of priority p_moved may be moved to make room for a job of priority p_for: never
-- higher priority for lower, so never production for batch or best-effort.
create function omega.may_move_for(p_moved integer, p_for integer) returns boolean
language sql immutable parallel safe as $$
  select p_moved <= p_for
$$;

-- How many of a job's tasks are away because of a move: moved while they ran, not running again
-- yet. The one definition the budget check and omega.disruption read.
create function omega.job_unavailable(p_cell text, p_job_id bigint) returns integer
language sql stable as $$
  select count(*)::integer from omega.tasks t
  where t.cell = p_cell and t.job_id = p_job_id and t.state = 'placed'
    and exists (select from omega.moves mv where mv.cell = p_cell and mv.task_id = t.id and mv.was_running)
$$;

-- Whether one more of a job's tasks may be taken away: moving a running task makes it unavailable
-- until its new machine runs it; a task that was not running loses nothing.
create function omega.disruption_allows(p_max_unavailable integer, p_unavailable integer, p_running boolean)
returns boolean
language sql immutable parallel safe as $$
  select not p_running or p_max_unavailable is null or p_unavailable + 1 <= p_max_unavailable
$$;

-- Serialises the moves of one cell: the rate limit and the no-undo rule read the moves log, which
-- two concurrent moves would both pass. Moves are few (rate-limited); commits of placements never
-- take this lock.
create function omega.move_lock_key(p_cell text) returns bigint
language sql immutable as $$
  select hashtextextended('omega.moves:' || p_cell, 0)
$$;

-- Step 2 of a move: the rebalancer's own rules (see the top). Under the locks of commit_move.
create function omega.move_verdict(p_cell text, p_scheduler text, p_task_id bigint, p_from bigint, p_to bigint,
  p_for_job bigint)
returns text
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_task omega.tasks;
  v_claim omega.claims;
  v_job omega.jobs;
  v_for_priority integer;
  v_settings jsonb;
  v_cooldown interval;
  v_limit integer;
begin
  select * into v_task from omega.tasks t where t.cell = p_cell and t.id = p_task_id;
  if v_task.id is null then
    return 'task_not_found';
  end if;
  select * into v_claim from omega.claims c where c.cell = p_cell and c.task_id = p_task_id;
  if v_claim.task_id is null or v_task.state not in ('placed', 'running') then
    return 'task_not_placed';
  elsif v_claim.machine_id <> p_from then
    return 'claim_moved';
  elsif p_from = p_to then
    return 'same_machine';
  end if;
  if p_for_job is not null then
    select j.priority into v_for_priority from omega.jobs j where j.cell = p_cell and j.id = p_for_job;
    if v_for_priority is null or not omega.may_move_for(v_claim.priority, v_for_priority) then
      return 'priority';
    end if;
  end if;
  select * into v_job from omega.jobs j where j.cell = p_cell and j.id = v_task.job_id;
  if v_job.max_unavailable is not null and not omega.disruption_allows(v_job.max_unavailable,
       omega.job_unavailable(p_cell, v_job.id), v_task.state = 'running') then
    return 'disruption_budget';
  end if;
  select s.profile -> 'rebalance' into v_settings from omega.schedulers s where s.name = p_scheduler;
  v_cooldown := make_interval(secs => coalesce((v_settings ->> 'cooldownSeconds')::double precision, 600));
  v_limit := coalesce((v_settings ->> 'maxMovesPerMinute')::integer, 60);
  if exists (select from omega.moves mv
             where mv.cell = p_cell and mv.task_id = p_task_id and mv.moved_at > now() - v_cooldown) then
    return 'recently_moved';
  end if;
  if exists (select from omega.moves mv
             where mv.cell = p_cell and mv.moved_at > now() - v_cooldown
               and mv.from_machine = p_to and mv.to_machine = p_from) then
    return 'undoes_recent_move';
  end if;
  if (select count(*) from omega.moves mv where mv.cell = p_cell and mv.moved_at > now() - interval '1 minute')
     >= v_limit then
    return 'rate_limited';
  end if;
  return null;
end $$;

-- Step 3 of a move: decide_plan's verdict on the task placed on p_to, as if its claim were gone,
-- asked in a subtransaction that is always rolled back (nothing of it stays: claim, task state,
-- events, notifications). PL/pgSQL variables survive the rollback; that is how the verdict gets out.
create function omega.move_probe(p_cell text, p_task_id bigint, p_to bigint, p_to_version bigint,
  p_conflict_mode text)
returns text
language plpgsql as $$
declare
  v_reason text;
begin
  begin
    perform omega.release_claims(p_cell, array[p_task_id]);
    update omega.tasks t set state = 'pending' where t.cell = p_cell and t.id = p_task_id;
    select d.reason into v_reason
    from omega.decide_plan(p_cell, array[p_task_id], array[p_to], array[coalesce(p_to_version, 0)],
      'all-or-nothing', p_conflict_mode, '{}', '{}', '{}') d;
    raise exception using errcode = 'OMPRB', message = 'move probe: always rolled back';
  exception when sqlstate 'OMPRB' then
    null;
  end;
  return v_reason;
end $$;

-- Step 4 of a move: the claim changes machine. The task is `placed` on its new machine until that
-- machine's agent runs it (its old agent is told to stop it: the claim is gone from there). The
-- `moved` event comes before the task's own `placed` event (a task that was running).
create function omega.move_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_task_id bigint,
  p_from bigint, p_to bigint, p_strategy text)
returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_claim omega.claims;
  v_task omega.tasks;
  v_from_name text;
  v_to_name text;
begin
  select * into v_claim from omega.claims c where c.cell = p_cell and c.task_id = p_task_id;
  select * into v_task from omega.tasks t where t.cell = p_cell and t.id = p_task_id;
  select m.name into v_from_name from omega.machines m where m.cell = p_cell and m.id = p_from;
  select m.name into v_to_name from omega.machines m where m.cell = p_cell and m.id = p_to;
  perform omega.release_claims(p_cell, array[p_task_id]);
  insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk,
    scheduler, plan_id)
  values (p_cell, p_task_id, v_claim.job_id, p_to, v_claim.tenant_id, v_claim.priority, v_claim.cpu,
    v_claim.memory, v_claim.gpu, v_claim.disk, p_scheduler, p_plan_id);
  update omega.machines m
  set used_cpu = m.used_cpu + v_claim.cpu, used_memory = m.used_memory + v_claim.memory,
      used_gpu = m.used_gpu + v_claim.gpu, used_disk = m.used_disk + v_claim.disk, tasks = m.tasks + 1
  where m.cell = p_cell and m.id = p_to;
  insert into omega.moves (cell, task_id, job_id, from_machine, to_machine, was_running, scheduler, strategy, plan_id)
  values (p_cell, p_task_id, v_claim.job_id, p_from, p_to, v_task.state = 'running', p_scheduler,
    left(coalesce(p_strategy, ''), 100), p_plan_id);
  insert into omega.events (cell, job_id, task_id, task_index, kind, machine, reason)
  values (p_cell, v_claim.job_id, p_task_id, v_task.index, 'moved', v_to_name,
    format('moved from %s by %s%s', v_from_name, p_scheduler,
      case when coalesce(p_strategy, '') <> '' then format(' (%s)', p_strategy) else '' end));
  update omega.tasks t set state = 'placed', reason = format('moved from %s', v_from_name)
  where t.cell = p_cell and t.id = p_task_id;
  -- The machine it left has room now: blocked work (the gang a Defragment move makes room for) wakes.
  perform omega.capacity_freed(p_cell);
end $$;

-- One move, in one transaction: evict the task's claim on p_from and place the task on p_to, or do
-- nothing. Returns one row: outcome `moved` or `rejected` with the reason (see the top). Logged as
-- a plan of one placement (omega.scheduler_stats counts moves as the rebalancer's commits).
--   p_to_version: the target's version as the planner saw it (compared in coarse conflict mode).
--   p_for_job: the job the move makes room for (Defragment), for the priority rule.
create function omega.commit_move(
  p_cell text,
  p_scheduler text,
  p_task_id bigint,
  p_from bigint,
  p_to bigint,
  p_to_version bigint default null,
  p_for_job bigint default null,
  p_strategy text default '',
  p_worker text default '',
  p_conflict_mode text default 'fine'
) returns table (task_id bigint, from_machine bigint, to_machine bigint, outcome text, reason text)
language plpgsql set jit = off set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  started timestamptz := clock_timestamp();
  v_reason text;
  v_plan_id bigint;
  busy bigint[];
begin
  if p_task_id is null or p_from is null or p_to is null then
    raise exception using errcode = 'OM422', message = 'a move needs a task, a machine to leave and one to go to';
  end if;
  if p_conflict_mode not in ('fine', 'coarse') then
    raise exception using errcode = 'OM422', message = format('unknown conflict mode %L', p_conflict_mode);
  end if;
  -- Locks: the cell's move lock (see move_lock_key), then commit_plan's order (job, machines SKIP
  -- LOCKED, quotas), then the cell row (capacity_freed).
  perform pg_advisory_xact_lock(omega.move_lock_key(p_cell));
  busy := omega.plan_lock(p_cell, array[p_task_id], array[p_from, p_to], array[p_task_id]);
  if cardinality(busy) > 0 then
    v_reason := 'machine_busy';
  end if;
  v_reason := coalesce(v_reason, omega.move_verdict(p_cell, p_scheduler, p_task_id, p_from, p_to, p_for_job));
  if v_reason is null then
    v_reason := omega.move_probe(p_cell, p_task_id, p_to, p_to_version, p_conflict_mode);
  end if;
  v_plan_id := nextval(pg_get_serial_sequence('omega.plans', 'id'));
  if v_reason is null then
    perform omega.move_apply(p_cell, p_scheduler, v_plan_id, p_task_id, p_from, p_to, p_strategy);
  end if;
  insert into omega.plans (cell, id, scheduler, worker, transaction_mode, conflict_mode, attempted, committed,
    rejected, evicted, duration_ms)
  overriding system value
  values (p_cell, v_plan_id, p_scheduler, p_worker, 'all-or-nothing', p_conflict_mode, 1, (v_reason is null)::integer,
    case when v_reason is null then '{}'::jsonb else jsonb_build_object(v_reason, 1) end,
    (v_reason is null)::integer, extract(epoch from clock_timestamp() - started) * 1000);
  return query select p_task_id, p_from, p_to, case when v_reason is null then 'moved' else 'rejected' end, v_reason;
end $$;
call omega.grant_entry_point('commit_move', '{omega_scheduler}');

-- Per job with a disruption budget: how many tasks are away now and how many may be.
create view omega.disruption as
select j.cell, j.id as job_id, j.max_unavailable, omega.job_unavailable(j.cell, j.id) as unavailable
from omega.jobs j
where j.max_unavailable is not null and j.state in ('placed', 'running', 'pending');
