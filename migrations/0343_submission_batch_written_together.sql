-- A submission batch's jobs and tasks written in one statement each (session 20).
--
-- At 1,000 jobs/s submissions are most of PostgreSQL's work, and most of a submission was its
-- writes, one job at a time: a job insert (~130 µs: its indexes, checks and triggers), a task insert
-- (~55 µs), each a statement of its own with its executor start-up. omega.submit_jobs now checks a
-- batch's jobs one by one as before (every refusal its own, in 0340's blocks), then writes the jobs
-- it admitted in one insert and their tasks in another.
--
-- The checks move out of the writers into functions that return the row a submission admits, so
-- there is one copy of each: omega.checked_job_core (submit_job_core's checks, 0220),
-- omega.checked_job_vocabulary (store_job_vocabulary's, 0103) and omega.checked_submission
-- (submit_one_job's own, 0331, then the two others, in the order they ran). omega.write_jobs writes
-- admitted rows; submit_job_core, store_job_vocabulary and submit_one_job are re-created on them.
--
-- A batch whose jobs depend on others (dependsOn, checked against the rows as they are written) or
-- that repeats an idempotency key within itself (the repeat's answer is the job written before it)
-- still goes job by job, as 0340's loop; so does one whose writes fail after all (a check the rows'
-- own trigger makes that the checks missed), from its start.

create function omega.checked_job_core(p_tenant text, p_spec jsonb) returns omega.jobs
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
  v_job omega.jobs;
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

  v_job.cell := v_cell;
  v_job.tenant_id := v_tenant.id;
  v_job.name := coalesce(p_spec ->> 'name', '');
  v_job.priority := v_priority;
  v_job.scheduler := v_scheduler;
  v_job.task_count := v_tasks;
  v_job.pending_count := v_tasks;
  v_job.cpu := v_cpu;
  v_job.memory := v_memory;
  v_job.gpu := v_gpu;
  v_job.disk := v_disk;
  v_job.selector := coalesce(v_con -> 'selector', '{}');
  v_job.affinity := coalesce(v_con -> 'affinity', '[]');
  v_job.tolerations := coalesce(v_con -> 'tolerations', '[]');
  v_job.max_per_machine := (v_con ->> 'maxPerMachine')::integer;
  v_job.spread_by := v_con ->> 'spreadBy';
  v_job.gang_min := v_gang_min;
  v_job.locality := p_spec -> 'locality';
  -- The job counts in its tenant's backlog from here on (the batch's next jobs read the figure).
  perform omega.count_pending_tasks(v_tenant.id, v_pending + v_tasks);
  return v_job;
end $$;

-- submit_job_core (0220), on its checks.
create or replace function omega.submit_job_core(p_tenant text, p_spec jsonb) returns bigint
language plpgsql as $$
begin
  return (omega.write_jobs(array[omega.checked_job_core(p_tenant, p_spec)]))[1];
end $$;

-- store_job_vocabulary's checks (0103): a job's labels, host ports and placement vocabulary.
create function omega.checked_job_vocabulary(p_spec jsonb, out labels jsonb, out ports integer[], out vocabulary jsonb)
language plpgsql as $$
declare
  v_con jsonb := coalesce(p_spec -> 'constraints', '{}');
begin
  if p_spec ? 'labels' then
    perform omega.check_label_map(p_spec -> 'labels', 'labels');
  end if;
  ports := '{}';
  if p_spec ? 'ports' then
    if jsonb_typeof(p_spec -> 'ports') <> 'array' or jsonb_array_length(p_spec -> 'ports') > 100
       or exists (select from jsonb_array_elements(p_spec -> 'ports') p where not omega.is_whole(p, 1, 65535)) then
      raise exception using errcode = 'OM422', message = 'ports: an array of at most 100 port numbers 1-65535 is required';
    end if;
    ports := array(select (p #>> '{}')::integer from jsonb_array_elements(p_spec -> 'ports') p);
    if cardinality(ports) <> (select count(distinct x) from unnest(ports) x) then
      raise exception using errcode = 'OM422', message = 'ports: a port is listed twice';
    end if;
  end if;
  labels := coalesce(p_spec -> 'labels', '{}');
  vocabulary := nullif(jsonb_strip_nulls(jsonb_build_object(
    'preferredAffinity', nullif(v_con -> 'preferredAffinity', '[]'),
    'topologySpread', nullif(v_con -> 'topologySpread', '[]'),
    'jobAffinity', nullif(v_con -> 'jobAffinity', '[]'),
    'jobAntiAffinity', nullif(v_con -> 'jobAntiAffinity', '[]'))), '{}');
end $$;

create or replace function omega.store_job_vocabulary(p_cell text, p_job_id bigint, p_spec jsonb) returns void
language plpgsql as $$
declare
  v record;
begin
  select * into v from omega.checked_job_vocabulary(p_spec);
  if v.vocabulary is not null or v.labels <> '{}' or cardinality(v.ports) > 0 then
    update omega.jobs set labels = v.labels, ports = v.ports, vocabulary = v.vocabulary
    where cell = p_cell and id = p_job_id;
  end if;
end $$;

-- submit_one_job's checks (0331), then the core's and the vocabulary's: the row a submission
-- admits, or the job it repeats (an idempotency key used before with the same request: id set).
create function omega.checked_submission(p_tenant text, p_spec jsonb, p_client_token text) returns omega.jobs
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_hash bytea;
  v_existing omega.jobs;
  v_runtime bigint[];
  v_max_unavailable integer;
  v_job omega.jobs;
  v_vocabulary record;
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
  v_max_unavailable := omega.parse_disruption_budget(p_spec);
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
      return v_existing;
    end if;
  end if;

  -- The core knows the spec's placement fields; the rest are checked after it.
  v_job := omega.checked_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime' - 'dependsOn' - 'prePlace'
    - 'disruptionBudget' - 'labels' - 'ports');
  select * into v_vocabulary from omega.checked_job_vocabulary(p_spec);
  v_job.labels := v_vocabulary.labels;
  v_job.ports := v_vocabulary.ports;
  v_job.vocabulary := v_vocabulary.vocabulary;
  v_job.max_retries := (p_spec ->> 'maxRetries')::integer;
  v_job.runtime_min_ms := v_runtime[1];
  v_job.runtime_max_ms := v_runtime[2];
  v_job.client_token := p_client_token;
  v_job.request_hash := v_hash;
  v_job.max_unavailable := v_max_unavailable;
  return v_job;
end $$;

-- Writes admitted rows (omega.checked_submission's, omega.checked_job_core's) in their order, and
-- their tasks; returns their ids in that order.
create function omega.write_jobs(p_jobs omega.jobs[]) returns bigint[]
language plpgsql as $$
declare
  v_ids bigint[];
begin
  -- One statement: the ids drawn in the jobs' order (as the column's identity would), the jobs, their
  -- tasks (whose references are checked at its end, when the jobs are there).
  with numbered as materialized (
    select j.*, nextval('omega.jobs_id_seq') as job_id from unnest(p_jobs) with ordinality as j
  ), jobs as (
    insert into omega.jobs (id, cell, tenant_id, name, priority, scheduler, task_count, pending_count,
      cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min, locality,
      labels, ports, vocabulary, runtime_min_ms, runtime_max_ms, client_token, request_hash, max_unavailable)
    overriding system value
    select j.job_id, j.cell, j.tenant_id, j.name, j.priority, j.scheduler, j.task_count,
      j.pending_count, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations, j.max_per_machine,
      j.spread_by, j.gang_min, j.locality, coalesce(j.labels, '{}'), coalesce(j.ports, '{}'), j.vocabulary,
      j.runtime_min_ms, j.runtime_max_ms, j.client_token, j.request_hash, j.max_unavailable
    from numbered j
  ), tasks as (
    insert into omega.tasks (cell, job_id, index)
    select j.cell, j.job_id, i from numbered j cross join lateral generate_series(0, j.task_count - 1) as i
  )
  select array_agg(j.job_id order by j.ordinality) into v_ids from numbered j;
  -- maxRetries, where given (the column's default otherwise), as submit_job set it after the insert.
  if exists (select from unnest(p_jobs) j where j.max_retries is not null) then
    update omega.jobs t set max_retries = j.max_retries
    from unnest(p_jobs) with ordinality as j
    where j.max_retries is not null and t.cell = j.cell and t.id = v_ids[j.ordinality];
  end if;
  perform omega.wake(w.cell, w.scheduler) from (select distinct j.cell, j.scheduler from unnest(p_jobs) j) w;
  return v_ids;
end $$;

-- submit_one_job (0331) on the checks and the writer.
create or replace function omega.submit_one_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language plpgsql as $$
declare
  v_job omega.jobs := omega.checked_submission(p_tenant, p_spec, p_client_token);
  v_job_id bigint;
begin
  if v_job.id is not null then
    return v_job.id;
  end if;
  v_job_id := (omega.write_jobs(array[v_job]))[1];
  if p_spec ? 'dependsOn' then
    perform omega.add_dependencies(v_job.cell, v_job_id, v_job.tenant_id, p_spec -> 'dependsOn',
      (p_spec ->> 'prePlace')::boolean);
  end if;
  return v_job_id;
end $$;

revoke execute on function omega.checked_job_core(text, jsonb), omega.checked_job_vocabulary(jsonb),
  omega.checked_submission(text, jsonb, text), omega.write_jobs(omega.jobs[]) from public;

create or replace function omega.submit_jobs(p_tenants text[], p_specs jsonb[], p_client_tokens text[])
returns table (ord integer, id bigint, created boolean, error_code text, error_message text, job jsonb)
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
  n integer := coalesce(cardinality(p_specs), 0);
  i integer;
  v_id bigint;
  v_job jsonb;
  v_code text;
  v_message text;
  -- Jobs v_from .. v_upto go in the next block.
  v_from integer := 1;
  v_upto integer;
  v_ids bigint[];
  v_jobs jsonb[];
  v_codes text[];
  v_messages text[];
  -- Checked first and written together (below), or each written as it is checked.
  v_together boolean;
  v_admitted omega.jobs[];
  v_written bigint[];
  v_nth integer;
  v_backlog_before text := current_setting('omega.backlog_counted', true);
begin
  if cardinality(p_tenants) is distinct from cardinality(p_specs)
     or cardinality(p_tenants) is distinct from cardinality(p_client_tokens) then
    raise exception using errcode = 'OM422', message = 'tenant, spec and client token arrays must have the same length';
  end if;
  -- Alone (light load), a job needs no subtransaction: its refusal is the statement's error.
  if n = 1 then
    v_id := omega.submit_one_job(p_tenants[1], p_specs[1], p_client_tokens[1]);
    -- A job this transaction inserted carries its now(); a repeated idempotent submission does not.
    select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
    return query select 1, v_id, v_job is not null, null::text, null::text, v_job;
    return;
  end if;
  v_together := not exists (select from unnest(p_specs) s where s ? 'dependsOn')
    and not exists (select from unnest(p_tenants, p_client_tokens) as t(tenant, token)
                    where t.token is not null group by t.tenant, t.token having count(*) > 1);
  -- The jobs' `submitted` events are logged below, once the batch is through.
  perform set_config('omega.submissions_logged', 'on', true);
  <<attempt>>
  loop
    v_upto := n;
    while v_from <= n loop
      i := v_from;
      begin
        while i <= v_upto loop
          if v_together then
            v_admitted[i] := omega.checked_submission(p_tenants[i], p_specs[i], p_client_tokens[i]);
          else
            v_ids[i] := omega.submit_one_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
            select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_ids[i];
            v_jobs[i] := v_job;
          end if;
          i := i + 1;
        end loop;
      exception when others then
        get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
        if i = v_from then
          -- Refused first in its block, after exactly the jobs before it: that is its answer.
          v_codes[i] := v_code;
          v_messages[i] := v_message;
          v_from := i + 1;
          v_upto := n;
        else
          -- Refused after others of its block, which are undone (variables keep their values): they
          -- go again, then job i begins the next block (its refusal may name a job undone here).
          v_upto := i - 1;
        end if;
        continue;
      end;
      v_from := v_upto + 1;
      v_upto := n;
    end loop;
    exit attempt when not v_together;
    begin
      -- The admitted jobs in one insert (a repeat of an earlier submission has its job already).
      v_written := omega.write_jobs(array(
        select v_admitted[k] from generate_series(1, n) as k
        where v_codes[k] is null and (v_admitted[k]).id is null order by k));
      v_nth := 0;
      for k in 1 .. n loop
        if v_codes[k] is null and (v_admitted[k]).id is null then
          v_nth := v_nth + 1;
          v_ids[k] := v_written[v_nth];
        elsif v_codes[k] is null then
          v_ids[k] := (v_admitted[k]).id;
        end if;
      end loop;
      v_jobs := array(
        select (select case when j.created_at = now() then to_jsonb(j) end from omega.jobs j where j.id = v_ids[k])
        from generate_series(1, n) as k order by k);
      exit attempt;
    exception when others then
      -- A write the checks did not foresee: the batch again from its start, each job written as it
      -- is checked, so that the refusal is the job's own.
      v_together := false;
      v_from := 1;
      v_codes := '{}';
      v_messages := '{}';
      v_ids := '{}';
      v_jobs := '{}';
      perform set_config('omega.backlog_counted', coalesce(v_backlog_before, ''), true);
    end;
  end loop;
  perform set_config('omega.submissions_logged', '', true);
  -- What omega.record_job_event would have logged at the commit for each job created here (once:
  -- an idempotent repeat in the same batch answers with the job its first submission created).
  insert into omega.events (cell, job_id, kind)
  select v_jobs[c.k] ->> 'cell', v_ids[c.k], 'submitted'
  from (select min(k) as k from generate_series(1, n) as k
        where v_codes[k] is null and v_jobs[k] is not null group by v_ids[k]) c
  order by c.k;
  return query
  select k, case when v_codes[k] is null then v_ids[k] end, v_codes[k] is null and v_jobs[k] is not null,
    v_codes[k], v_messages[k], case when v_codes[k] is null then v_jobs[k] end
  from generate_series(1, n) as k;
end $$;
call omega.grant_entry_point('submit_jobs', '{omega_api}');

-- 0341's settings, set aside again for the re-created entry point.
do $$
declare
  f regprocedure;
begin
  for f in
    select distinct p.oid::regprocedure
    from pg_catalog.pg_proc p
    cross join lateral aclexplode(p.proacl) a
    where p.pronamespace = 'omega'::regnamespace and p.prosecdef and p.prokind = 'f'
      and a.grantee = 'omega_api'::regrole and a.privilege_type = 'EXECUTE'
  loop
    execute format('alter function %s set omega.backlog_counted = %L set omega.task_moves_logged = %L '
      'set omega.claims_verified = %L set omega.pending_counted = %L set omega.freed_machines = %L '
      'set omega.submissions_logged = %L', f, '', '', '', '', '', '');
  end loop;
end $$;
