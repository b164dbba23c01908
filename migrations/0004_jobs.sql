-- Jobs: submission, cancellation, and the lease/park cycle scheduler workers use to share work.

create function omega.is_whole(v jsonb, low numeric, high numeric) returns boolean
language sql immutable as $$
  select jsonb_typeof(v) = 'number' and v::text::numeric = trunc(v::text::numeric)
    and v::text::numeric between low and high
$$;

-- The constraints of a job spec, checked as strictly over SQL as over HTTP: a malformed term would
-- otherwise make a job that waits forever.
create function omega.check_constraints(c jsonb) returns void
language plpgsql immutable as $$
declare
  k text;
begin
  if jsonb_typeof(c) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'constraints: an object is required';
  end if;
  for k in select jsonb_object_keys(c) loop
    if k not in ('selector', 'affinity', 'tolerations', 'maxPerMachine', 'spreadBy') then
      raise exception using errcode = 'OM422', message = format('constraints: unknown field %L', k);
    end if;
  end loop;
  if c ? 'selector' and (jsonb_typeof(c -> 'selector') <> 'object'
      or exists (select from jsonb_each(c -> 'selector') e where jsonb_typeof(e.value) <> 'string')) then
    raise exception using errcode = 'OM422', message = 'constraints.selector: an object of string values is required';
  end if;
  if c ? 'affinity' and (jsonb_typeof(c -> 'affinity') <> 'array'
      or exists (select from jsonb_array_elements(c -> 'affinity') t
                 where jsonb_typeof(t) <> 'object' or jsonb_typeof(t -> 'key') is distinct from 'string'
                   or coalesce(t ->> 'op', '') not in ('In', 'NotIn', 'Exists', 'DoesNotExist')
                   or (t ? 'values' and (jsonb_typeof(t -> 'values') <> 'array'
                       or exists (select from jsonb_array_elements(t -> 'values') v where jsonb_typeof(v) <> 'string'))))) then
    raise exception using errcode = 'OM422',
      message = 'constraints.affinity: an array of {key, op: In|NotIn|Exists|DoesNotExist, values: [string]} is required';
  end if;
  if c ? 'tolerations' and (jsonb_typeof(c -> 'tolerations') <> 'array'
      or exists (select from jsonb_array_elements(c -> 'tolerations') t
                 where jsonb_typeof(t) <> 'object' or jsonb_typeof(t -> 'key') is distinct from 'string'
                   or (t ? 'value' and jsonb_typeof(t -> 'value') <> 'string'))) then
    raise exception using errcode = 'OM422', message = 'constraints.tolerations: an array of {key, value?} is required';
  end if;
  if c ? 'maxPerMachine' and not omega.is_whole(c -> 'maxPerMachine', 1, 100000) then
    raise exception using errcode = 'OM422', message = 'constraints.maxPerMachine: a whole number from 1 to 100000 is required';
  end if;
  if c ? 'spreadBy' and jsonb_typeof(c -> 'spreadBy') <> 'string' then
    raise exception using errcode = 'OM422', message = 'constraints.spreadBy: a label name is required';
  end if;
end $$;

-- Validates a job spec (the same JSON as POST /v1/jobs; quantities may be numbers in base units or
-- Kubernetes strings), inserts the job and its tasks, and wakes the scheduler in the same
-- transaction. Returns the job id.
create function omega.submit_job(p_tenant text, p_spec jsonb) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_cell text := p_spec ->> 'cell';
  v_tasks integer;
  v_priority integer;
  v_scheduler text;
  v_res jsonb := coalesce(p_spec -> 'resources', 'null');
  v_con jsonb := coalesce(p_spec -> 'constraints', '{}');
  v_gang_min integer;
  v_job_id bigint;
  k text;
begin
  if jsonb_typeof(p_spec) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the job spec must be a JSON object';
  end if;
  select id into v_tenant_id from omega.tenants where name = p_tenant;
  if v_tenant_id is null then
    raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
  end if;
  for k in select jsonb_object_keys(p_spec) loop
    if k not in ('name', 'cell', 'priority', 'scheduler', 'tasks', 'resources', 'constraints', 'gang') then
      raise exception using errcode = 'OM422', message = format('unknown field %L', k);
    end if;
  end loop;
  if v_cell is null or not exists (select from omega.cells where name = v_cell) then
    raise exception using errcode = 'OM422', message = format('cell: %s does not exist', coalesce(quote_literal(v_cell), 'is required and'));
  end if;
  if jsonb_typeof(p_spec -> 'tasks') is distinct from 'number' or (p_spec ->> 'tasks')::numeric not between 1 and 100000
     or (p_spec ->> 'tasks')::numeric <> trunc((p_spec ->> 'tasks')::numeric) then
    raise exception using errcode = 'OM422', message = 'tasks: a whole number from 1 to 100000 is required';
  end if;
  v_tasks := (p_spec ->> 'tasks')::integer;
  perform omega.check_resources(v_res);
  v_priority := case
    when p_spec -> 'priority' is null then 100
    when jsonb_typeof(p_spec -> 'priority') = 'string' then
      case p_spec ->> 'priority' when 'best-effort' then 50 when 'batch' then 150 when 'production' then 250 end
    when jsonb_typeof(p_spec -> 'priority') = 'number' and (p_spec ->> 'priority')::numeric between 0 and 999
      and (p_spec ->> 'priority')::numeric = trunc((p_spec ->> 'priority')::numeric)
      then (p_spec ->> 'priority')::integer
    end;
  if v_priority is null then
    raise exception using errcode = 'OM422', message = 'priority: a whole number 0-999 or one of best-effort, batch, production';
  end if;
  v_scheduler := coalesce(p_spec ->> 'scheduler', case when v_priority >= 200 then 'service' else 'batch' end);
  if not exists (select from omega.schedulers where name = v_scheduler) then
    raise exception using errcode = 'OM422', message = format('scheduler: %L is not a known scheduler profile', v_scheduler);
  end if;
  perform omega.check_constraints(v_con);
  if p_spec ? 'name' and jsonb_typeof(p_spec -> 'name') is distinct from 'string' then
    raise exception using errcode = 'OM422', message = 'name: a string is required';
  end if;
  if p_spec ? 'gang' then
    if jsonb_typeof(p_spec -> 'gang') is distinct from 'object'
       or exists (select from jsonb_object_keys(p_spec -> 'gang') gk where gk <> 'minAvailable')
       or not omega.is_whole(p_spec -> 'gang' -> 'minAvailable', 1, v_tasks) then
      raise exception using errcode = 'OM422', message = 'gang.minAvailable: a whole number from 1 to tasks is required';
    end if;
    v_gang_min := (p_spec -> 'gang' ->> 'minAvailable')::integer;
  end if;
  perform omega.check_admission(v_cell, v_tenant_id, v_priority,
    omega.parse_quantity(v_res -> 'cpu', 'cpu'), omega.parse_quantity(v_res -> 'memory', 'memory'),
    omega.parse_quantity(v_res -> 'gpu', 'gpu'), omega.parse_quantity(v_res -> 'disk', 'disk'),
    coalesce(v_gang_min, 1));

  insert into omega.jobs (cell, tenant_id, name, priority, scheduler, task_count, pending_count,
    cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min)
  values (v_cell, v_tenant_id, coalesce(p_spec ->> 'name', ''), v_priority, v_scheduler, v_tasks, v_tasks,
    omega.parse_quantity(v_res -> 'cpu', 'cpu'), omega.parse_quantity(v_res -> 'memory', 'memory'),
    omega.parse_quantity(v_res -> 'gpu', 'gpu'), omega.parse_quantity(v_res -> 'disk', 'disk'),
    coalesce(v_con -> 'selector', '{}'), coalesce(v_con -> 'affinity', '[]'), coalesce(v_con -> 'tolerations', '[]'),
    (v_con ->> 'maxPerMachine')::integer, v_con ->> 'spreadBy', v_gang_min)
  returning id into v_job_id;

  insert into omega.tasks (cell, job_id, index)
  select v_cell, v_job_id, i from generate_series(0, v_tasks - 1) i;

  perform omega.wake(v_cell, v_scheduler);
  return v_job_id;
end $$;

-- Deletes the claims of the given tasks and gives their resources back to their machines, which it
-- locks in id order. The caller holds the locks of the tasks' jobs and calls capacity_freed after.
create function omega.release_claims(p_cell text, p_task_ids bigint[]) returns integer
language plpgsql as $$
declare
  released integer;
begin
  perform from omega.machines m
  where m.cell = p_cell
    and m.id in (select c.machine_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_task_ids))
  order by m.id for update;
  with gone as (
    delete from omega.claims c where c.cell = p_cell and c.task_id = any (p_task_ids) returning c.*
  ), per_machine as (
    select machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk, count(*) as n
    from gone group by machine_id
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu - pm.cpu, used_memory = m.used_memory - pm.memory,
        used_gpu = m.used_gpu - pm.gpu, used_disk = m.used_disk - pm.disk, tasks = m.tasks - pm.n
    from per_machine pm where m.cell = p_cell and m.id = pm.machine_id
  )
  select count(*) into released from gone;
  return released;
end $$;

-- Puts placed tasks back to pending (their machine went away, or they were preempted) and wakes
-- their schedulers. The caller holds the locks of the tasks' jobs.
create function omega.return_to_pending(p_cell text, p_task_ids bigint[], p_reason text) returns void
language plpgsql as $$
declare
  s text;
begin
  -- Jobs before machines (release_claims locks those), as every writer orders its locks.
  perform from omega.jobs j
  where j.cell = p_cell and j.id in (select t.job_id from omega.tasks t where t.cell = p_cell and t.id = any (p_task_ids))
  order by j.id for update;
  perform omega.release_claims(p_cell, p_task_ids);
  for s in
    with requeued as (
      update omega.tasks t set state = 'pending', pending_since = now(), reason = p_reason
      where t.cell = p_cell and t.id = any (p_task_ids) and t.state in ('placed', 'running')
      returning t.job_id
    ), per_job as (
      select job_id, count(*) as n from requeued group by job_id
    ), job_updates as (
      update omega.jobs j set pending_count = j.pending_count + pj.n, state = 'pending', blocked = false,
        updated_at = now()
      from per_job pj where j.cell = p_cell and j.id = pj.job_id
      returning j.scheduler
    )
    select distinct scheduler from job_updates
  loop
    perform omega.wake(p_cell, s);
  end loop;
  perform omega.capacity_freed(p_cell);
end $$;

-- Cancels a job: releases every claim and cancels every task in one transaction. p_tenant, when
-- given, must own the job (another tenant's job is reported as not found). Cancelling a job that has
-- already ended is a no-op. Returns the job's state.
create function omega.cancel_job(p_job_id bigint, p_tenant text default null) returns text
language plpgsql as $$
declare
  j omega.jobs;
begin
  select * into j from omega.jobs
  where id = p_job_id
    and (p_tenant is null or tenant_id = (select id from omega.tenants where name = p_tenant));
  if j.id is null then
    raise exception using errcode = 'OM404', message = format('job %s does not exist', p_job_id);
  end if;
  select * into j from omega.jobs where cell = j.cell and id = p_job_id for update;
  if j.state in ('cancelled', 'succeeded', 'failed') then
    return j.state;
  end if;
  perform omega.release_claims(j.cell, array(select task_id from omega.claims where cell = j.cell and job_id = j.id));
  update omega.tasks set state = 'cancelled', reason = null
  where cell = j.cell and job_id = j.id and state in ('pending', 'placed', 'running');
  update omega.jobs set state = 'cancelled', pending_count = 0, blocked = false, lease_owner = null,
    lease_expires = null, updated_at = now()
  where cell = j.cell and id = j.id;
  perform omega.capacity_freed(j.cell);
  return 'cancelled';
end $$;

-- Hands a scheduler worker up to p_limit schedulable jobs of its scheduler: highest priority
-- first; within a priority, round-robin across tenants (each tenant's oldest job, then each one's
-- second oldest, …), FIFO within a tenant. Round-robin rather than dominant-resource share: jobs
-- are the unit a scheduler takes, it needs no usage aggregate on this hot path, and it already
-- bounds a tenant's wait to one turn per other tenant whatever their backlogs; quotas are what
-- bound a tenant's share of the cell. Jobs leased by a live worker are skipped; a lease whose
-- holder died expires after p_lease_seconds and the job goes to the next worker that asks.
create function omega.lease_jobs(p_cell text, p_scheduler text, p_owner text, p_limit integer, p_lease_seconds integer)
returns setof omega.jobs
language sql as $$
  -- Materialized: evaluated once. Rescanned inside the UPDATE's join, SKIP LOCKED would pass over
  -- the rows this statement already updated and hand out the next batch, and the next.
  with pick as materialized (
    select c.id from omega.jobs c
    join (select id, row_number() over (partition by priority, tenant_id order by id) as turn
          from omega.jobs
          where cell = p_cell and scheduler = p_scheduler and state = 'pending' and not blocked
            and (lease_expires is null or lease_expires < now())) r on r.id = c.id
    -- Repeated on the locked row: a job leased by a worker that committed after this snapshot is
    -- re-checked here (EvalPlanQual), not leased twice.
    where c.cell = p_cell and c.state = 'pending' and not c.blocked
      and (c.lease_expires is null or c.lease_expires < now())
    order by c.priority desc, r.turn, c.id
    limit p_limit
    for update of c skip locked
  )
  update omega.jobs j
  set lease_owner = p_owner, lease_expires = now() + make_interval(secs => p_lease_seconds)
  from pick
  where j.cell = p_cell and j.id = pick.id
  returning j.*
$$;

-- Gives back the leases p_owner holds on these jobs, in one statement (jobs locked in id order, as
-- every writer locks them).
create function omega.release_leases(p_cell text, p_job_ids bigint[], p_owner text) returns void
language sql as $$
  update omega.jobs j set lease_owner = null, lease_expires = null
  from (select id from omega.jobs
        where cell = p_cell and id = any (p_job_ids) and lease_owner = p_owner
        order by id for update) mine
  where j.cell = p_cell and j.id = mine.id
$$;

-- Parks a job that cannot be placed now, with the reason its pending tasks show, until capacity
-- appears. p_seen_epoch is the cell's capacity epoch the plan was computed on: if capacity was
-- freed since, the job is not parked (returns false) and the caller plans it again.
create function omega.park_job(p_cell text, p_job_id bigint, p_owner text, p_seen_epoch bigint, p_reason text)
returns boolean
language plpgsql as $$
declare
  current_epoch bigint;
begin
  perform from omega.jobs where cell = p_cell and id = p_job_id for update;
  select capacity_epoch into current_epoch from omega.cells where name = p_cell for share;
  update omega.tasks set reason = p_reason where cell = p_cell and job_id = p_job_id and state = 'pending';
  if current_epoch > p_seen_epoch then
    perform omega.release_leases(p_cell, array[p_job_id], p_owner);
    return false;
  end if;
  update omega.jobs set blocked = true, lease_owner = null, lease_expires = null
  where cell = p_cell and id = p_job_id and state = 'pending';
  return true;
end $$;

-- Safety net run periodically by every worker: wakes each scheduler that has schedulable work
-- nobody holds (a lost wake-up, or a worker that died holding a lease). Returns how many it woke.
create function omega.wake_stale() returns integer
language plpgsql as $$
declare
  r record;
  n integer := 0;
begin
  for r in
    select distinct cell, scheduler from omega.jobs
    where state = 'pending' and not blocked and (lease_expires is null or lease_expires < now())
  loop
    perform omega.wake(r.cell, r.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
