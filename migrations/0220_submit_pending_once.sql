-- Admission's backlog check at the cost of one read per tenant and transaction, not per job.
--
-- submit_job_core (as 0171 left it) summed the tenant's waiting tasks for every job it took: an
-- index scan over every pending job of the tenant. In the burst scenario (300 jobs/s into a full
-- cell, ~5,000 jobs parked) that was 0.82 ms a submission, and a group-committed batch of 32
-- submissions of one tenant read the same backlog 32 times. Now the first submission of a
-- transaction reads it and keeps the running figure in a transaction-local setting; the next ones
-- of that tenant add to it. A setting is rolled back with its subtransaction, so a refused job
-- (omega.submit_jobs runs each in one) leaves the figure as it was. The check stays what 0004 said
-- it is: a bound on a backlog, not an invariant (concurrent transactions may pass it together, by
-- at most what they carry).

-- The tenant's tasks waiting to be placed, as this transaction last counted them.
create function omega.tenant_pending_tasks(p_tenant_id bigint) returns bigint
language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
  v_counted text := current_setting('omega.pending_tasks_' || p_tenant_id, true);
  v_pending bigint;
begin
  -- Unset, or '' once a transaction that set it has ended: count.
  if v_counted is not null and v_counted <> '' then
    return v_counted::bigint;
  end if;
  select coalesce(sum(pending_count), 0) into v_pending
  from omega.jobs where tenant_id = p_tenant_id and state = 'pending';
  return v_pending;
end $$;

-- Records the tenant's waiting tasks after a submission, for the rest of this transaction.
create function omega.count_pending_tasks(p_tenant_id bigint, p_pending bigint) returns void
language sql as $$
  select set_config('omega.pending_tasks_' || p_tenant_id, p_pending::text, true)
$$;

-- submit_job_core as 0171, the backlog read through omega.tenant_pending_tasks.
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
    if k not in ('name', 'cell', 'priority', 'scheduler', 'tasks', 'resources', 'constraints', 'gang', 'locality') then
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
  if p_spec ? 'locality' then
    perform omega.check_locality(p_spec -> 'locality');
  end if;
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
  v_pending := omega.tenant_pending_tasks(v_tenant.id);
  if v_pending + v_tasks > v_tenant.max_pending_tasks then
    raise exception using errcode = 'OM429',
      message = format('tasks: this tenant has %s tasks waiting to be placed and may have at most %s (its maxPendingTasks); '
        'submit again when some are placed', v_pending, v_tenant.max_pending_tasks);
  end if;

  insert into omega.jobs (cell, tenant_id, name, priority, scheduler, task_count, pending_count,
    cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min, locality)
  values (v_cell, v_tenant.id, coalesce(p_spec ->> 'name', ''), v_priority, v_scheduler, v_tasks, v_tasks,
    v_cpu, v_memory, v_gpu, v_disk,
    coalesce(v_con -> 'selector', '{}'), coalesce(v_con -> 'affinity', '[]'), coalesce(v_con -> 'tolerations', '[]'),
    (v_con ->> 'maxPerMachine')::integer, v_con ->> 'spreadBy', v_gang_min, p_spec -> 'locality')
  returning id into v_job_id;

  insert into omega.tasks (cell, job_id, index)
  select v_cell, v_job_id, i from generate_series(0, v_tasks - 1) i;
  perform omega.count_pending_tasks(v_tenant.id, v_pending + v_tasks);

  perform omega.wake(v_cell, v_scheduler);
  return v_job_id;
end $$;

-- Helpers of the entry points (which run as their owner), not entry points: nobody else calls them.
-- (The running figure is a transaction-local setting, which a session could set by hand before
-- calling omega.submit_job: only roles trusted to submit in any tenant's name may call that.)
revoke execute on function omega.tenant_pending_tasks(bigint), omega.count_pending_tasks(bigint, bigint) from public;
