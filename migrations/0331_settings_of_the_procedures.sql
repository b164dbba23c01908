-- The transaction-local settings the procedures pass along are theirs alone.
--
-- Several procedures carry a fact along a transaction in a custom setting: a tenant's waiting tasks
-- once read (omega.pending_tasks_<tenant>, 0220/0325, read again by each job of a group-committed
-- batch), and that a statement logged or counted its own rows so the triggers skip them
-- (omega.task_moves_logged, omega.claims_verified, omega.pending_counted; 0233–0324), or the machines
-- a transaction freed (omega.freed_machines, 0080). Any SQL session may set a custom setting, and
-- the ones read were trusted: a session with omega_api's rights that first ran
-- `set omega.pending_tasks_<its tenant's id> = '0'` submitted past the tenant's maxPendingTasks with
-- omega.submit_job — SQL submission did not apply exactly the HTTP checks — and one that set
-- omega.task_moves_logged hid its jobs' state changes from the event log.
--
-- Now every entry point the API role may call runs with those settings emptied (a SET clause: the
-- caller's values are set aside for the call and restored after), so only what a procedure sets
-- during the call is read. The waiting-task figures move to one setting, omega.backlog_counted, a
-- JSON object by tenant id, that a SET clause can name. A batch still reads each tenant's figure
-- once: omega.submit_jobs runs its jobs through omega.submit_one_job, the body of omega.submit_job,
-- which is not an entry point and keeps no SET clause of its own (omega.submit_job, called alone,
-- reads the rows).

create or replace function omega.tenant_pending_tasks(p_tenant_id bigint) returns bigint
language plpgsql as $$
declare
  v_counted bigint := nullif(current_setting('omega.backlog_counted', true), '')::jsonb ->> p_tenant_id::text;
begin
  if v_counted is not null then
    return v_counted;
  end if;
  return (select coalesce(sum(p.tasks), 0) from omega.tenant_pending p where p.tenant_id = p_tenant_id);
end $$;

-- Records the tenant's waiting tasks after a submission, for the rest of the entry point's call.
create or replace function omega.count_pending_tasks(p_tenant_id bigint, p_pending bigint) returns void
language plpgsql as $$
begin
  perform set_config('omega.backlog_counted',
    (coalesce(nullif(current_setting('omega.backlog_counted', true), '')::jsonb, '{}')
      || jsonb_build_object(p_tenant_id::text, p_pending))::text, true);
end $$;

-- omega.submit_job's body (0191), callable by the procedures only.
create function omega.submit_one_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_hash bytea;
  v_existing omega.jobs;
  v_runtime bigint[];
  v_job_id bigint;
  v_max_unavailable integer;
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
      return v_existing.id;
    end if;
  end if;

  -- The core knows the spec's placement fields; the rest are stored here, after it.
  v_job_id := omega.submit_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime' - 'dependsOn' - 'prePlace'
    - 'disruptionBudget' - 'labels' - 'ports');
  perform omega.store_job_vocabulary(p_spec ->> 'cell', v_job_id, p_spec);
  if p_client_token is not null or p_spec ? 'maxRetries' or v_runtime is not null or v_max_unavailable is not null then
    update omega.jobs
    set max_retries = coalesce((p_spec ->> 'maxRetries')::integer, max_retries),
        runtime_min_ms = v_runtime[1], runtime_max_ms = v_runtime[2],
        client_token = p_client_token, request_hash = v_hash, max_unavailable = v_max_unavailable
    where cell = p_spec ->> 'cell' and id = v_job_id;
  end if;
  if p_spec ? 'dependsOn' then
    perform omega.add_dependencies(p_spec ->> 'cell', v_job_id,
      (select tenant_id from omega.jobs where cell = p_spec ->> 'cell' and id = v_job_id),
      p_spec -> 'dependsOn', (p_spec ->> 'prePlace')::boolean);
  end if;
  return v_job_id;
end $$;

revoke execute on function omega.submit_one_job(text, jsonb, text) from public;

create or replace function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language sql as $$
  select omega.submit_one_job(p_tenant, p_spec, p_client_token)
$$;
call omega.grant_entry_point('submit_job', '{omega_api}');

create or replace function omega.submit_jobs(p_tenants text[], p_specs jsonb[], p_client_tokens text[])
returns table (ord integer, id bigint, created boolean, error_code text, error_message text, job jsonb)
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
  i integer;
  v_id bigint;
  v_job jsonb;
  v_code text;
  v_message text;
begin
  if cardinality(p_tenants) is distinct from cardinality(p_specs)
     or cardinality(p_tenants) is distinct from cardinality(p_client_tokens) then
    raise exception using errcode = 'OM422', message = 'tenant, spec and client token arrays must have the same length';
  end if;
  -- Alone (light load), a job needs no subtransaction: its refusal is the statement's error.
  if cardinality(p_specs) = 1 then
    v_id := omega.submit_one_job(p_tenants[1], p_specs[1], p_client_tokens[1]);
    -- A job this transaction inserted carries its now(); a repeated idempotent submission does not.
    select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
    return query select 1, v_id, v_job is not null, null::text, null::text, v_job;
    return;
  end if;
  for i in 1 .. coalesce(cardinality(p_specs), 0) loop
    begin
      v_id := omega.submit_one_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
      select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
      return query select i, v_id, v_job is not null, null::text, null::text, v_job;
    exception when others then
      get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
      return query select i, null::bigint, false, v_code, v_message, null::jsonb;
    end;
  end loop;
end $$;
call omega.grant_entry_point('submit_jobs', '{omega_api}');

-- Every entry point the API role may call (and the agents' and the router's, which run as it or
-- below it) sets the procedures' own settings aside for its call.
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
      'set omega.claims_verified = %L set omega.pending_counted = %L set omega.freed_machines = %L',
      f, '', '', '', '', '');
  end loop;
end $$;
