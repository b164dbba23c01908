-- Jobs that depend on jobs (SPEC "Workflows"): `dependsOn: [{job, condition}]`, conditions
-- `succeeded` (Slurm's afterok, the default), `finished` (afterany) and `failed` (afternotok).
--
-- A dependent job is an ordinary pending job with a count of unmet dependencies (`waiting_on`). The
-- hot path learns nothing else: a generated column `ready` says whether a scheduler may lease the
-- job, and the lease index is partial on it, so waiting jobs are never scanned by omega.lease_work
-- (0122). Dependencies are released where a job's end is recorded — a trigger on the job's state,
-- so report_task, cancel_job and every later writer release them in the transaction that ends the
-- predecessor, whoever wrote it.
--
-- A cycle is impossible by construction: a job may only depend on jobs that already exist, so every
-- edge points to an older job. Dependencies stay within a cell (the hot-path transaction that ends a
-- job touches one cell) and within a tenant (another tenant's id is "does not exist": no leak).
--
-- Pre-placement (Drizzle, `prePlace: true`): a waiting job that asks for it stays leasable while it
-- has pending tasks; its tasks are `held`, so commit_plan places them as usual — real claims that
-- count in every invariant, in omega.machine_usage and against quotas, preemptible like the job —
-- but its agents do not start them, and the job stays `pending`. When its last dependency is met,
-- the same transaction clears `held` and the job becomes `placed`: no scheduler round trip.

alter table omega.jobs
  -- Dependencies not met yet. 0 for every job without dependsOn.
  add column waiting_on integer not null default 0 check (waiting_on >= 0),
  -- prePlace: reserve machines while dependencies run.
  add column pre_place boolean not null default false,
  -- Why the job ended, when no task says it: 'dependency' for a job whose dependency can no longer hold.
  add column reason text,
  -- May a scheduler lease it (as far as dependencies go)? Kept by PostgreSQL on every update of the row.
  add column ready boolean generated always as (waiting_on = 0 or (pre_place and pending_count > 0)) stored;

-- A job whose tasks are all reserved is `pending` with no pending task (it waits for dependencies).
alter table omega.jobs drop constraint jobs_check2;
alter table omega.jobs add constraint jobs_pending_state
  check ((state = 'pending') = (pending_count > 0 or waiting_on > 0) or state = 'cancelled');

-- The lease index of 0001, narrowed to jobs whose dependencies allow a lease.
create index jobs_ready on omega.jobs (cell, scheduler, priority desc, id)
  where state = 'pending' and not blocked and ready;

alter table omega.tasks
  -- A task of a pre-placed job that waits for dependencies: placed, it is a reservation, not started.
  add column held boolean not null default false;

create table omega.job_dependencies (
  cell omega.name not null,
  job_id bigint not null,
  depends_on bigint not null,
  condition text not null check (condition in ('succeeded', 'finished', 'failed')),
  state text not null default 'waiting' check (state in ('waiting', 'met', 'failed')),
  primary key (cell, job_id, depends_on),
  foreign key (cell, job_id) references omega.jobs (cell, id),
  foreign key (cell, depends_on) references omega.jobs (cell, id),
  -- Edges point to older jobs: no cycle can be written, even by hand.
  check (depends_on < job_id)
);
create index job_dependencies_waiting on omega.job_dependencies (cell, depends_on) where state = 'waiting';

-- Does `condition` hold for a predecessor in `state`? Null while the predecessor has not ended.
create function omega.condition_holds(p_condition text, p_state text) returns boolean
language sql immutable parallel safe as $$
  select case
    when p_state not in ('succeeded', 'failed', 'cancelled') then null
    when p_condition = 'succeeded' then p_state = 'succeeded'
    when p_condition = 'failed' then p_state = 'failed'
    else true end
$$;

-- The pending reason of a job waiting for dependencies: the oldest unmet one.
create function omega.dependency_reason(p_cell text, p_job_id bigint) returns text
language sql stable as $$
  select format('dependency: waiting for job %s to %s', d.depends_on,
    case d.condition when 'succeeded' then 'succeed' when 'failed' then 'fail' else 'finish' end)
  from omega.job_dependencies d
  where d.cell = p_cell and d.job_id = p_job_id and d.state = 'waiting'
  order by d.depends_on limit 1
$$;

-- Fails a job whose dependency can no longer hold: its tasks fail with reason 'dependency' (its
-- reservations are released), and the job's state change releases its own dependents in turn.
-- The caller holds the job's lock.
create function omega.fail_for_dependency(p_cell text, p_job_id bigint) returns void
language plpgsql as $$
declare
  n integer;
begin
  perform omega.release_claims(p_cell, array(select c.task_id from omega.claims c where c.cell = p_cell and c.job_id = p_job_id));
  update omega.tasks t set state = 'failed', reason = 'dependency', held = false
  where t.cell = p_cell and t.job_id = p_job_id and t.state in ('pending', 'placed', 'running');
  get diagnostics n = row_count;
  update omega.jobs j set state = 'failed', reason = 'dependency', pending_count = 0, waiting_on = 0,
    failed_count = least(j.task_count - j.succeeded_count, j.failed_count + n), blocked = false,
    lease_owner = null, lease_expires = null, updated_at = now()
  where j.cell = p_cell and j.id = p_job_id;
end $$;

-- The last dependency of a job is met (the caller has marked it): its pending tasks go to the
-- schedulers, and its reservations become placements here, in the transaction that ended the predecessor. The caller holds the lock.
create function omega.launch_dependent(p_cell text, p_job_id bigint) returns void
language plpgsql as $$
declare
  j omega.jobs;
begin
  -- Agents poll their machine's version: the reserved tasks are theirs to start now.
  insert into omega.machine_agents as a (cell, machine_id, generation)
  select distinct p_cell, c.machine_id, 1
  from omega.claims c join omega.tasks t on t.cell = c.cell and t.id = c.task_id
  where c.cell = p_cell and c.job_id = p_job_id and t.held
  order by 2
  on conflict (cell, machine_id) do update set generation = a.generation + 1;
  update omega.tasks t set held = false, reason = case when t.state = 'pending' then null else t.reason end
  where t.cell = p_cell and t.job_id = p_job_id and (t.held or t.state = 'pending');
  -- One statement: a job with no pending task is `placed` the moment it stops waiting.
  update omega.jobs set waiting_on = 0, state = case when pending_count = 0 then 'placed' else state end,
    blocked = false, updated_at = now()
  where cell = p_cell and id = p_job_id
  returning * into j;
  if j.pending_count > 0 then
    perform omega.wake(p_cell, j.scheduler);
  end if;
end $$;

-- A job ended: each dependent waiting on it is met (one fewer to wait for; launched at none) or can
-- no longer run (fails, and so do its dependents, through this same trigger on their state).
-- Dependents are locked in id order after the predecessor: older jobs first, as every writer that
-- locks several jobs does.
create function omega.release_dependents() returns trigger
language plpgsql as $$
declare
  d record;
  dep omega.jobs;
  v_holds boolean;
begin
  for d in
    select jd.job_id, jd.condition from omega.job_dependencies jd
    where jd.cell = new.cell and jd.depends_on = new.id and jd.state = 'waiting'
    order by jd.job_id
  loop
    select * into dep from omega.jobs where cell = new.cell and id = d.job_id for update;
    v_holds := omega.condition_holds(d.condition, new.state);
    update omega.job_dependencies set state = case when v_holds then 'met' else 'failed' end
    where cell = new.cell and job_id = d.job_id and depends_on = new.id;
    if dep.state in ('succeeded', 'failed', 'cancelled') then
      continue;
    end if;
    insert into omega.events (cell, job_id, kind, reason)
    values (new.cell, d.job_id, case when v_holds then 'dependency-met' else 'dependency-failed' end,
      format('job %s %s (condition: %s)', new.id, new.state, d.condition));
    if not v_holds then
      perform omega.fail_for_dependency(new.cell, d.job_id);
      continue;
    end if;
    if dep.waiting_on = 1 then
      perform omega.launch_dependent(new.cell, d.job_id);
    else
      update omega.jobs set waiting_on = waiting_on - 1, updated_at = now()
      where cell = new.cell and id = d.job_id;
      update omega.tasks set reason = omega.dependency_reason(new.cell, d.job_id)
      where cell = new.cell and job_id = d.job_id and state = 'pending';
    end if;
  end loop;
  return null;
end $$;
create trigger jobs_release_dependents after update of state on omega.jobs
  for each row when (old.state is distinct from new.state and new.state in ('succeeded', 'failed', 'cancelled'))
  execute function omega.release_dependents();

-- commit_plan marks a job `placed` when its last pending task is placed; a pre-placed job that still
-- waits for dependencies holds reservations, and stays `pending`.
create function omega.job_reserved_stays_pending() returns trigger language plpgsql as $$
begin
  new.state := 'pending';
  return new;
end $$;
create trigger jobs_reserved_stays_pending before update of state on omega.jobs
  for each row when (new.state in ('placed', 'running') and new.waiting_on > 0)
  execute function omega.job_reserved_stays_pending();

-- Records the dependencies of a job just inserted (p_depends: the spec's dependsOn). Each
-- predecessor must be a job of the same tenant (else "does not exist", as for any unknown id) in
-- the same cell. Predecessors are locked FOR SHARE in id order, so a predecessor ending at the same
-- moment either ends first (and is read ended here) or waits for this transaction (and its trigger
-- then sees the new rows). A condition that can no longer hold fails the job at once.
create function omega.add_dependencies(p_cell text, p_job_id bigint, p_tenant_id bigint, p_depends jsonb,
  p_pre_place boolean)
returns void
language plpgsql as $$
declare
  e jsonb;
  i integer := 0;
  v_id bigint;
  v_condition text;
  p omega.jobs;
  v_waiting integer := 0;
  v_failed boolean := false;
begin
  if jsonb_typeof(p_depends) is distinct from 'array' or jsonb_array_length(p_depends) > 100 then
    raise exception using errcode = 'OM422', message = 'dependsOn: a list of at most 100 {job, condition} is required';
  end if;
  for e in select value from jsonb_array_elements(p_depends) loop
    if jsonb_typeof(e) is distinct from 'object'
       or exists (select from jsonb_object_keys(e) k where k not in ('job', 'condition'))
       or not omega.is_whole(e -> 'job', 1, 9007199254740991) then
      raise exception using errcode = 'OM422', message = format('dependsOn[%s].job: a job id is required', i);
    end if;
    v_condition := coalesce(e ->> 'condition', 'succeeded');
    if e ? 'condition' and (jsonb_typeof(e -> 'condition') <> 'string' or v_condition not in ('succeeded', 'finished', 'failed')) then
      raise exception using errcode = 'OM422',
        message = format('dependsOn[%s].condition: one of succeeded, finished, failed is required', i);
    end if;
    v_id := (e ->> 'job')::bigint;
    select * into p from omega.jobs where id = v_id and tenant_id = p_tenant_id;
    if p.id is null or p.id >= p_job_id then
      raise exception using errcode = 'OM422', message = format('dependsOn[%s].job: job %s does not exist', i, v_id);
    end if;
    if p.cell <> p_cell then
      raise exception using errcode = 'OM422',
        message = format('dependsOn[%s].job: job %s is in cell %s; a job may depend only on jobs of its own cell', i, v_id, p.cell);
    end if;
    insert into omega.job_dependencies (cell, job_id, depends_on, condition) values (p_cell, p_job_id, v_id, v_condition)
    on conflict do nothing;
    if not found then
      raise exception using errcode = 'OM422', message = format('dependsOn[%s].job: job %s is named twice', i, v_id);
    end if;
    i := i + 1;
  end loop;
  -- Lock and read the predecessors' latest states (see above).
  for p in
    select j.* from omega.jobs j
    where j.cell = p_cell and j.id in (select depends_on from omega.job_dependencies where cell = p_cell and job_id = p_job_id)
    order by j.id for share
  loop
    select condition into v_condition from omega.job_dependencies where cell = p_cell and job_id = p_job_id and depends_on = p.id;
    case omega.condition_holds(v_condition, p.state)
      when true then
        update omega.job_dependencies set state = 'met' where cell = p_cell and job_id = p_job_id and depends_on = p.id;
      when false then
        update omega.job_dependencies set state = 'failed' where cell = p_cell and job_id = p_job_id and depends_on = p.id;
        v_failed := true;
      else
        v_waiting := v_waiting + 1;
    end case;
  end loop;
  update omega.jobs set pre_place = coalesce(p_pre_place, false) where cell = p_cell and id = p_job_id;
  if v_failed then
    perform omega.fail_for_dependency(p_cell, p_job_id);
  elsif v_waiting > 0 then
    update omega.jobs set waiting_on = v_waiting where cell = p_cell and id = p_job_id;
    update omega.tasks set reason = omega.dependency_reason(p_cell, p_job_id), held = coalesce(p_pre_place, false)
    where cell = p_cell and job_id = p_job_id;
  end if;
end $$;

-- The submission wrapper of 0013, with `dependsOn` and `prePlace` taken off the spec before the
-- validating core sees it and recorded after the job is inserted. Otherwise unchanged.
create or replace function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_hash bytea;
  v_existing omega.jobs;
  v_runtime bigint[];
  v_job_id bigint;
begin
  if jsonb_typeof(p_spec) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the job spec must be a JSON object';
  end if;
  if p_spec ? 'maxRetries' and not omega.is_whole(p_spec -> 'maxRetries', 0, 100) then
    raise exception using errcode = 'OM422', message = 'maxRetries: a whole number from 0 to 100 is required';
  end if;
  if p_spec ? 'runtime' then
    v_runtime := omega.parse_runtime(p_spec -> 'runtime');
  end if;
  if p_spec ? 'prePlace' and jsonb_typeof(p_spec -> 'prePlace') is distinct from 'boolean' then
    raise exception using errcode = 'OM422', message = 'prePlace: true or false is required';
  end if;
  if p_client_token is not null then
    if p_client_token !~ '^[\x21-\x7e]{1,255}$' then
      raise exception using errcode = 'OM422', message = 'client_token: 1-255 visible ASCII characters are required';
    end if;
    select id into v_tenant_id from omega.tenants where name = p_tenant;
    if v_tenant_id is null then
      raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
    end if;
    perform pg_advisory_xact_lock(hashtextextended(format('omega.submit_job:%s:%s', v_tenant_id, p_client_token), 0));
    v_hash := sha256(convert_to(p_spec::text, 'UTF8'));
    select * into v_existing from omega.jobs
    where tenant_id = v_tenant_id and client_token = p_client_token limit 1;
    if v_existing.id is not null then
      if v_existing.request_hash <> v_hash then
        raise exception using errcode = 'OM422',
          message = format('this idempotency key was already used for job %s with a different request', v_existing.id);
      end if;
      return v_existing.id;
    end if;
  end if;

  v_job_id := omega.submit_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime' - 'dependsOn' - 'prePlace');
  if p_client_token is not null or p_spec ? 'maxRetries' or v_runtime is not null then
    update omega.jobs
    set max_retries = coalesce((p_spec ->> 'maxRetries')::integer, max_retries),
        runtime_min_ms = v_runtime[1], runtime_max_ms = v_runtime[2],
        client_token = p_client_token, request_hash = v_hash
    where cell = p_spec ->> 'cell' and id = v_job_id;
  end if;
  if p_spec ? 'dependsOn' then
    perform omega.add_dependencies(p_spec ->> 'cell', v_job_id,
      (select tenant_id from omega.jobs where cell = p_spec ->> 'cell' and id = v_job_id),
      p_spec -> 'dependsOn', (p_spec ->> 'prePlace')::boolean);
  end if;
  return v_job_id;
end $$;
-- (CREATE OR REPLACE reset its SECURITY DEFINER and grants.)
call omega.grant_entry_point('submit_job', '{omega_api}');
