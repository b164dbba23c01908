-- The task lifecycle after placement: a machine's agent reports its tasks running, succeeded or
-- failed; a finished task gives its claim back in the same transaction; a failed one is retried up
-- to its job's limit; a job ends when all its tasks have.
--
--   pending ──commit_plan──► placed ──agent──► running ──agent──► succeeded
--      ▲                       │                  │    └──agent──► failed ──(retries left)──┐
--      │                       └──────────────────┴─► lost / preempted / returned           │
--      └────────────────────────────────────────────────────────────────────────────────────┘

alter table omega.jobs
  -- How many times each task is run again after it fails (the job spec's `maxRetries`).
  add column max_retries integer not null default 3 check (max_retries between 0 and 100),
  -- How long a task of this job runs, for simulated agents (the spec's `runtime`): a fixed time or
  -- a uniform range. Null: until it is stopped, as a service.
  add column runtime_min_ms bigint check (runtime_min_ms between 0 and 31536000000),
  add column runtime_max_ms bigint check (runtime_max_ms between 0 and 31536000000),
  -- Set when the first task starts: a job placed again after losing tasks is `running`, not `placed`.
  add column started_at timestamptz,
  add column succeeded_count integer not null default 0 check (succeeded_count >= 0),
  -- Tasks that failed with no retry left.
  add column failed_count integer not null default 0 check (failed_count >= 0),
  add constraint jobs_runtime_range check (runtime_min_ms <= runtime_max_ms),
  add constraint jobs_finished_tasks check (succeeded_count + failed_count <= task_count);

alter table omega.tasks
  -- Retries used so far.
  add column attempts integer not null default 0 check (attempts >= 0),
  -- The machine whose agent last reported the task (running or finished): tells an agent's repeated
  -- report, which succeeds and changes nothing, from another machine's.
  add column ran_on bigint;

-- commit_plan marks a job `placed` when its last pending task is placed; a job that had already
-- started (tasks ran, some were lost or retried, and are now placed again) is `running`.
create function omega.job_started_stays_running() returns trigger language plpgsql as $$
begin
  new.state := 'running';
  return new;
end $$;
create trigger jobs_started_stays_running before update of state on omega.jobs
  for each row when (new.state = 'placed' and new.started_at is not null)
  execute function omega.job_started_stays_running();

-- An agent's report on one task of its machine. p_state is 'running', 'succeeded' or 'failed';
-- p_reason is the exit reason ("exit 0", "OOMKilled"). Refusals leave everything unchanged:
--   OM404 unknown machine or task; OM409 the task is not on this machine (another machine's, moved
--   away, cancelled) or the transition goes backwards; OM422 a state or reason that is not valid.
-- Reporting the state a task is already in, from the machine that reported it, changes nothing
-- (an agent retrying after a timeout). Lock order: the job, then the agent row (running) or the
-- machine and the cell row (finished: release_claims, capacity_freed).
create function omega.report_task(p_cell text, p_machine text, p_task_id bigint, p_state text,
  p_reason text default null)
returns table (task_id bigint, job_id bigint, task_index integer, state text, job_state text, reason text)
language plpgsql as $$
#variable_conflict use_column
declare
  v_machine_id bigint;
  v_task omega.tasks;
  v_job omega.jobs;
  v_claimed_on bigint;
  v_claimed_name text;
  v_reason text := nullif(btrim(p_reason), '');
begin
  if p_state is null or p_state not in ('running', 'succeeded', 'failed') then
    raise exception using errcode = 'OM422', message = format('state: %L is not one of running, succeeded, failed', p_state);
  end if;
  if length(v_reason) > 1000 then
    raise exception using errcode = 'OM422', message = 'reason: at most 1000 characters';
  end if;
  select m.id into v_machine_id from omega.machines m where m.cell = p_cell and m.name = p_machine;
  if v_machine_id is null then
    raise exception using errcode = 'OM404', message = format('machine %L does not exist in cell %L', p_machine, p_cell);
  end if;
  select t.job_id into v_task.job_id from omega.tasks t where t.cell = p_cell and t.id = p_task_id;
  if v_task.job_id is null then
    raise exception using errcode = 'OM404', message = format('task %s does not exist in cell %L', p_task_id, p_cell);
  end if;
  -- Under the job's lock the task and its claim hold still: every writer of tasks locks the job first.
  select * into v_job from omega.jobs j where j.cell = p_cell and j.id = v_task.job_id for update;
  select * into v_task from omega.tasks t where t.cell = p_cell and t.id = p_task_id;
  select c.machine_id, m.name into v_claimed_on, v_claimed_name
  from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
  where c.cell = p_cell and c.task_id = p_task_id;

  if v_task.state = p_state and v_task.ran_on = v_machine_id
     and (p_state <> 'running' or v_claimed_on = v_machine_id) then
    return query select v_task.id, v_task.job_id, v_task.index, v_task.state, v_job.state, v_task.reason;
    return;
  end if;
  if v_task.state in ('placed', 'running') and v_claimed_on <> v_machine_id then
    raise exception using errcode = 'OM409',
      message = format('task %s is placed on machine %L, not %L: stop it', p_task_id, v_claimed_name, p_machine);
  elsif v_task.state in ('succeeded', 'failed') then
    raise exception using errcode = 'OM409',
      message = format('task %s has already %s; it cannot become %s', p_task_id, v_task.state, p_state);
  elsif v_task.state = 'cancelled' then
    raise exception using errcode = 'OM409', message = format('task %s was cancelled: stop it', p_task_id);
  elsif v_task.state = 'pending' then
    raise exception using errcode = 'OM409',
      message = format('task %s is not placed on machine %L (it is pending again): stop it', p_task_id, p_machine);
  elsif v_task.state = 'running' and p_state = 'running' then
    raise exception using errcode = 'OM409', message = format('task %s is already running', p_task_id);
  end if;

  if p_state = 'running' then
    update omega.tasks t set state = 'running', ran_on = v_machine_id, reason = v_reason
    where t.cell = p_cell and t.id = p_task_id;
    update omega.jobs j set started_at = coalesce(j.started_at, now()),
      state = case when j.state = 'placed' then 'running' else j.state end, updated_at = now()
    where j.cell = p_cell and j.id = v_job.id;
    -- The machine's claims did not change, its tasks did: move the version its agent polls with.
    insert into omega.machine_agents as a (cell, machine_id, generation) values (p_cell, v_machine_id, 1)
    on conflict (cell, machine_id) do update set generation = a.generation + 1;
  else
    -- Finished: the event (fired by this statement) still sees the claim and names the machine.
    update omega.tasks t
    set state = p_state, ran_on = v_machine_id,
        reason = coalesce(v_reason, case when p_state = 'succeeded' then 'exit 0' else 'failed' end)
    where t.cell = p_cell and t.id = p_task_id;
    perform omega.release_claims(p_cell, array[p_task_id]);
    if p_state = 'failed' and v_task.attempts < v_job.max_retries then
      update omega.tasks t
      set state = 'pending', attempts = t.attempts + 1, pending_since = now(),
          reason = format('retry %s of %s after: %s', t.attempts + 1, v_job.max_retries, t.reason)
      where t.cell = p_cell and t.id = p_task_id;
      update omega.jobs j set pending_count = j.pending_count + 1, state = 'pending', blocked = false,
        started_at = coalesce(j.started_at, now()), updated_at = now()
      where j.cell = p_cell and j.id = v_job.id;
      perform omega.wake(p_cell, v_job.scheduler);
    else
      update omega.jobs j
      set succeeded_count = j.succeeded_count + (p_state = 'succeeded')::integer,
          failed_count = j.failed_count + (p_state = 'failed')::integer,
          started_at = coalesce(j.started_at, now()),
          state = case
            when j.succeeded_count + j.failed_count + 1 = j.task_count then
              case when j.failed_count > 0 or p_state = 'failed' then 'failed' else 'succeeded' end
            when j.state = 'placed' then 'running'
            else j.state end,
          updated_at = now()
      where j.cell = p_cell and j.id = v_job.id;
    end if;
    perform omega.capacity_freed(p_cell);
  end if;

  return query
  select t.id, t.job_id, t.index, t.state, j.state, t.reason
  from omega.tasks t join omega.jobs j on j.cell = t.cell and j.id = t.job_id
  where t.cell = p_cell and t.id = p_task_id;
end $$;
