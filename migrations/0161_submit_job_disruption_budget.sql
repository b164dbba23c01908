-- submit_job (0013's wrapper) takes `disruptionBudget: {"maxUnavailable": N}` (SPEC "Rebalancing")
-- off the spec, as it takes maxRetries and runtime, and stores it in jobs.max_unavailable. It also
-- refuses a job naming a rebalancing scheduler: those move running work and place no job, so the
-- job would wait forever.
--
-- Replaces omega.submit_job(text, jsonb, text) of 0013. Changed, and nothing else: the
-- v_max_unavailable variable and the parse_disruption_budget call after parse_runtime; 'disruptionBudget'
-- taken off the spec given to submit_job_core; max_unavailable set in the final update (and that
-- update's condition).

-- disruptionBudget: {"maxUnavailable": 0-100000}. Returns maxUnavailable, or null when absent.
create function omega.parse_disruption_budget(p_spec jsonb) returns integer
language plpgsql stable as $$
begin
  if p_spec ? 'scheduler' and exists (select from omega.schedulers s
      where s.name = p_spec ->> 'scheduler' and s.profile ->> 'kind' = 'rebalance') then
    raise exception using errcode = 'OM422',
      message = format('scheduler: %L moves running work and places no job; name a placing scheduler such as batch or service',
        p_spec ->> 'scheduler');
  end if;
  if not p_spec ? 'disruptionBudget' then
    return null;
  end if;
  if jsonb_typeof(p_spec -> 'disruptionBudget') is distinct from 'object'
     or exists (select from jsonb_object_keys(p_spec -> 'disruptionBudget') k where k <> 'maxUnavailable')
     or not omega.is_whole(p_spec -> 'disruptionBudget' -> 'maxUnavailable', 0, 100000) then
    raise exception using errcode = 'OM422',
      message = 'disruptionBudget.maxUnavailable: a whole number from 0 to 100000 is required';
  end if;
  return (p_spec -> 'disruptionBudget' ->> 'maxUnavailable')::integer;
end $$;

create or replace function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_hash bytea;
  v_existing omega.jobs;
  v_runtime bigint[];
  v_max_unavailable integer;
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
  v_max_unavailable := omega.parse_disruption_budget(p_spec);
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

  v_job_id := omega.submit_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime' - 'disruptionBudget');
  if p_client_token is not null or p_spec ? 'maxRetries' or v_runtime is not null or v_max_unavailable is not null then
    update omega.jobs
    set max_retries = coalesce((p_spec ->> 'maxRetries')::integer, max_retries),
        runtime_min_ms = v_runtime[1], runtime_max_ms = v_runtime[2],
        client_token = p_client_token, request_hash = v_hash, max_unavailable = v_max_unavailable
    where cell = p_spec ->> 'cell' and id = v_job_id;
  end if;
  return v_job_id;
end $$;
call omega.grant_entry_point('submit_job', '{omega_api}');
