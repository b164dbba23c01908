-- Submission with the tenant's rights and limits (see 0040), and every HTTP check of the job spec
-- (src/domain/job-spec.ts), so that a job submitted in SQL gets exactly the verdict it would get
-- over HTTP. Signatures unchanged: submit_job_core is the validating core that submit_job (0013)
-- wraps.

-- Refusals that depend on what the tenant already has in flight, not on the request's shape: the
-- API answers them 429 with Retry-After (src/db/errors.ts).
--   OM429 too many pending tasks

-- Admission against the band's quota. A band without a quota row for the tenant follows the cell's
-- policy: 'unlimited' admits (the work is not limited), 'none' refuses (the tenant has no right to
-- the band here until the admin sets a quota). Best-effort has no quota and is always admitted.
create or replace function omega.check_admission(p_cell text, p_tenant bigint, p_priority integer,
  p_cpu bigint, p_memory bigint, p_gpu bigint, p_disk bigint, p_at_once integer) returns void
language plpgsql stable as $$
declare
  q omega.quotas;
  dims text[];
  v_band text := omega.band(p_priority);
  v_policy text;
begin
  if v_band = 'best-effort' then return; end if;
  select * into q from omega.quotas
  where cell = p_cell and tenant_id = p_tenant and band = v_band;
  if not found then
    select case v_band when 'batch' then missing_quota_batch else missing_quota_production end
      into v_policy from omega.cells where name = p_cell;
    if v_policy = 'none' then
      raise exception using errcode = 'OM422',
        message = format('priority: the tenant has no %s quota in cell %s, and there a missing quota means none; '
          'the admin sets one with PUT /v1/quotas/<tenant>/%s/%s', v_band, p_cell, p_cell, v_band);
    end if;
    return;
  end if;
  dims := array_remove(array[
    case when p_cpu * p_at_once > q.cpu then format('cpu %s > %s', p_cpu * p_at_once, q.cpu) end,
    case when p_memory * p_at_once > q.memory then format('memory %s > %s', p_memory * p_at_once, q.memory) end,
    case when p_gpu * p_at_once > q.gpu then format('gpu %s > %s', p_gpu * p_at_once, q.gpu) end,
    case when p_disk * p_at_once > q.disk then format('disk %s > %s', p_disk * p_at_once, q.disk) end], null);
  if cardinality(dims) > 0 then
    raise exception using errcode = 'OM422',
      message = format('the job can never run within its %s quota in cell %s: %s %s',
        q.band, p_cell, case when p_at_once > 1 then format('its gang of %s asks for', p_at_once)
                             else 'one task asks for' end, array_to_string(dims, ', '));
  end if;
end $$;

create or replace function omega.submit_job_core(p_tenant text, p_spec jsonb) returns bigint
language plpgsql as $$
declare
  v_tenant omega.tenants;
  v_cell text;
  v_tasks integer;
  v_priority integer;
  v_scheduler text;
  v_res jsonb := coalesce(p_spec -> 'resources', 'null');
  v_con jsonb := coalesce(p_spec -> 'constraints', '{}');
  v_cpu bigint;
  v_memory bigint;
  v_gpu bigint;
  v_disk bigint;
  v_gang_min integer;
  v_pending bigint;
  v_job_id bigint;
  k text;
begin
  if jsonb_typeof(p_spec) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the job spec must be a JSON object';
  end if;
  select * into v_tenant from omega.tenants where name = p_tenant;
  if v_tenant.id is null then
    raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
  end if;
  for k in select jsonb_object_keys(p_spec) loop
    if k not in ('name', 'cell', 'priority', 'scheduler', 'tasks', 'resources', 'constraints', 'gang') then
      raise exception using errcode = 'OM422', message = format('%s: unknown field', k);
    end if;
  end loop;
  if jsonb_typeof(p_spec -> 'cell') is distinct from 'string' then
    raise exception using errcode = 'OM422', message = 'cell: a cell name is required';
  end if;
  v_cell := p_spec ->> 'cell';
  if not exists (select from omega.cells where name = v_cell) then
    raise exception using errcode = 'OM422', message = format('cell: %L does not exist', v_cell);
  end if;
  if not omega.is_whole(p_spec -> 'tasks', 1, 100000) then
    raise exception using errcode = 'OM422', message = 'tasks: a whole number from 1 to 100000 is required';
  end if;
  v_tasks := (p_spec ->> 'tasks')::integer;
  if v_tasks > v_tenant.max_tasks_per_job then
    raise exception using errcode = 'OM422',
      message = format('tasks: at most %s per job for this tenant (its maxTasksPerJob; the admin may raise it)', v_tenant.max_tasks_per_job);
  end if;
  perform omega.check_resources(v_res);
  v_cpu := omega.parse_quantity(v_res -> 'cpu', 'cpu');
  v_memory := omega.parse_quantity(v_res -> 'memory', 'memory');
  v_gpu := omega.parse_quantity(v_res -> 'gpu', 'gpu');
  v_disk := omega.parse_quantity(v_res -> 'disk', 'disk');
  -- A task that asks for nothing fits everywhere forever: thousands would pile on one machine.
  if v_cpu < v_tenant.min_task_cpu then
    raise exception using errcode = 'OM422',
      message = format('resources.cpu: each task must request at least %s millicores (this tenant''s minimum; the admin may lower it)', v_tenant.min_task_cpu);
  end if;
  if v_memory < v_tenant.min_task_memory then
    raise exception using errcode = 'OM422',
      message = format('resources.memory: each task must request at least %s MiB (this tenant''s minimum; the admin may lower it)', v_tenant.min_task_memory);
  end if;
  v_priority := case
    when p_spec -> 'priority' is null then 100
    when jsonb_typeof(p_spec -> 'priority') = 'string' then
      case p_spec ->> 'priority' when 'best-effort' then 50 when 'batch' then 150 when 'production' then 250 end
    when omega.is_whole(p_spec -> 'priority', 0, 999) then (p_spec ->> 'priority')::integer
    end;
  if v_priority is null then
    raise exception using errcode = 'OM422', message = 'priority: must be a whole number 0-999 or one of best-effort, batch, production';
  end if;
  if v_priority > v_tenant.max_priority then
    raise exception using errcode = 'OM422',
      message = format('priority: %s is above this tenant''s maximum, %s (%s); the admin grants more with PUT /v1/tenants/%s/limits',
        v_priority, v_tenant.max_priority, omega.band(v_tenant.max_priority), p_tenant);
  end if;
  if p_spec ? 'scheduler' and (jsonb_typeof(p_spec -> 'scheduler') <> 'string'
      or p_spec ->> 'scheduler' !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') then
    raise exception using errcode = 'OM422', message = 'scheduler: a scheduler name is required';
  end if;
  v_scheduler := coalesce(p_spec ->> 'scheduler', case when v_priority >= 200 then 'service' else 'batch' end);
  if not exists (select from omega.schedulers where name = v_scheduler) then
    raise exception using errcode = 'OM422', message = format('scheduler: %L is not a known scheduler profile', v_scheduler);
  end if;
  perform omega.check_constraints(v_con);
  if p_spec ? 'name' and (jsonb_typeof(p_spec -> 'name') is distinct from 'string' or length(p_spec ->> 'name') > 253) then
    raise exception using errcode = 'OM422', message = 'name: a string of at most 253 characters is required';
  end if;
  if p_spec ? 'gang' then
    if jsonb_typeof(p_spec -> 'gang') is distinct from 'object'
       or exists (select from jsonb_object_keys(p_spec -> 'gang') gk where gk <> 'minAvailable')
       or not omega.is_whole(p_spec -> 'gang' -> 'minAvailable', 1, v_tasks) then
      raise exception using errcode = 'OM422', message = 'gang.minAvailable: a whole number from 1 to tasks is required';
    end if;
    v_gang_min := (p_spec -> 'gang' ->> 'minAvailable')::integer;
  end if;
  perform omega.check_admission(v_cell, v_tenant.id, v_priority, v_cpu, v_memory, v_gpu, v_disk, coalesce(v_gang_min, 1));
  -- Last: the only check that reads more than a row. Concurrent submissions of one tenant may pass
  -- it together (by at most the jobs in flight): a bound on a backlog, not an invariant.
  select coalesce(sum(pending_count), 0) into v_pending
  from omega.jobs where tenant_id = v_tenant.id and state = 'pending';
  if v_pending + v_tasks > v_tenant.max_pending_tasks then
    raise exception using errcode = 'OM429',
      message = format('tasks: this tenant has %s tasks waiting to be placed and may have at most %s (its maxPendingTasks); '
        'submit again when some are placed', v_pending, v_tenant.max_pending_tasks);
  end if;

  insert into omega.jobs (cell, tenant_id, name, priority, scheduler, task_count, pending_count,
    cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min)
  values (v_cell, v_tenant.id, coalesce(p_spec ->> 'name', ''), v_priority, v_scheduler, v_tasks, v_tasks,
    v_cpu, v_memory, v_gpu, v_disk,
    coalesce(v_con -> 'selector', '{}'), coalesce(v_con -> 'affinity', '[]'), coalesce(v_con -> 'tolerations', '[]'),
    (v_con ->> 'maxPerMachine')::integer, v_con ->> 'spreadBy', v_gang_min)
  returning id into v_job_id;

  insert into omega.tasks (cell, job_id, index)
  select v_cell, v_job_id, i from generate_series(0, v_tasks - 1) i;

  perform omega.wake(v_cell, v_scheduler);
  return v_job_id;
end $$;

-- The admin's settings of a tenant: {maxPriority, maxTasksPerJob, maxPendingTasks, jobsPerMinute,
-- minTaskRequest: {cpu, memory}}; omitted fields keep their value. maxPriority may be a band name
-- (its top: best-effort 99, batch 199, production 999). Returns the tenant row.
create function omega.set_tenant_limits(p_tenant text, p_limits jsonb) returns omega.tenants
language plpgsql as $$
declare
  t omega.tenants;
  k text;
  v_max_priority integer;
  v_min jsonb := coalesce(p_limits -> 'minTaskRequest', '{}');
begin
  if jsonb_typeof(p_limits) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the limits must be a JSON object';
  end if;
  for k in select jsonb_object_keys(p_limits) loop
    if k not in ('maxPriority', 'maxTasksPerJob', 'maxPendingTasks', 'jobsPerMinute', 'minTaskRequest') then
      raise exception using errcode = 'OM422', message = format('%s: unknown field', k);
    end if;
  end loop;
  if p_limits ? 'maxPriority' then
    v_max_priority := case
      when jsonb_typeof(p_limits -> 'maxPriority') = 'string' then
        case p_limits ->> 'maxPriority' when 'best-effort' then 99 when 'batch' then 199 when 'production' then 999 end
      when omega.is_whole(p_limits -> 'maxPriority', 0, 999) then (p_limits ->> 'maxPriority')::integer end;
    if v_max_priority is null then
      raise exception using errcode = 'OM422', message = 'maxPriority: a whole number 0-999 or one of best-effort, batch, production is required';
    end if;
  end if;
  if p_limits ? 'maxTasksPerJob' and not omega.is_whole(p_limits -> 'maxTasksPerJob', 1, 100000) then
    raise exception using errcode = 'OM422', message = 'maxTasksPerJob: a whole number from 1 to 100000 is required';
  end if;
  if p_limits ? 'maxPendingTasks' and not omega.is_whole(p_limits -> 'maxPendingTasks', 1, 100000000) then
    raise exception using errcode = 'OM422', message = 'maxPendingTasks: a whole number from 1 to 100000000 is required';
  end if;
  if p_limits ? 'jobsPerMinute' and not omega.is_whole(p_limits -> 'jobsPerMinute', 1, 1000000) then
    raise exception using errcode = 'OM422', message = 'jobsPerMinute: a whole number from 1 to 1000000 is required';
  end if;
  if jsonb_typeof(v_min) <> 'object' or exists (select from jsonb_object_keys(v_min) mk where mk not in ('cpu', 'memory')) then
    raise exception using errcode = 'OM422', message = 'minTaskRequest: an object {cpu?, memory?} is required';
  end if;
  update omega.tenants set
    max_priority = coalesce(v_max_priority, max_priority),
    max_tasks_per_job = coalesce((p_limits ->> 'maxTasksPerJob')::integer, max_tasks_per_job),
    max_pending_tasks = coalesce((p_limits ->> 'maxPendingTasks')::integer, max_pending_tasks),
    jobs_per_minute = coalesce((p_limits ->> 'jobsPerMinute')::integer, jobs_per_minute),
    min_task_cpu = case when v_min ? 'cpu' then omega.parse_quantity(v_min -> 'cpu', 'cpu') else min_task_cpu end,
    min_task_memory = case when v_min ? 'memory' then omega.parse_quantity(v_min -> 'memory', 'memory') else min_task_memory end
  where name = p_tenant
  returning * into t;
  if t.id is null then
    raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
  end if;
  return t;
end $$;

-- What a missing quota means in a cell, per band: {"batch": "unlimited" | "none", "production": …};
-- an omitted band keeps its policy. Returns the cell row.
create function omega.set_quota_policy(p_cell text, p_policy jsonb) returns omega.cells
language plpgsql as $$
declare
  c omega.cells;
  k text;
begin
  if jsonb_typeof(p_policy) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the policy must be a JSON object';
  end if;
  for k in select jsonb_object_keys(p_policy) loop
    if k not in ('batch', 'production') then
      raise exception using errcode = 'OM422', message = format('%s: unknown field (the bands with quotas are batch and production)', k);
    end if;
    if coalesce(p_policy ->> k, '') not in ('unlimited', 'none') then
      raise exception using errcode = 'OM422', message = format('%s: "unlimited" or "none" is required', k);
    end if;
  end loop;
  update omega.cells set
    missing_quota_batch = coalesce(p_policy ->> 'batch', missing_quota_batch),
    missing_quota_production = coalesce(p_policy ->> 'production', missing_quota_production)
  where name = p_cell
  returning * into c;
  if c.name is null then
    raise exception using errcode = 'OM404', message = format('cell %L does not exist', p_cell);
  end if;
  return c;
end $$;

call omega.grant_entry_point('set_tenant_limits', '{omega_api}');
call omega.grant_entry_point('set_quota_policy', '{omega_api}');
