-- Submission, extended: idempotency (a client token, the SQL twin of the Idempotency-Key header)
-- and two job spec fields beyond SPEC.md's — `maxRetries` and `runtime` (see 0011).
--
-- The validating submit_job of 0004 (and of any later migration that replaced it) is kept as it is,
-- under the name submit_job_core; submit_job becomes a wrapper that takes the extension fields off
-- the spec, handles the client token, and calls it.

alter table omega.jobs
  -- The client's idempotency key (Idempotency-Key over HTTP) and the sha256 of the spec it came
  -- with: the same key with the same spec is the same job; with another spec it is refused.
  add column client_token text check (length(client_token) between 1 and 255),
  add column request_hash bytea;
-- Includes the cell, so the table stays distributable by cell; the lookup uses the prefix.
create unique index jobs_client_token on omega.jobs (tenant_id, client_token, cell) where client_token is not null;

alter function omega.submit_job(text, jsonb) rename to submit_job_core;

-- A duration: "500ms", "30s", "1.5m", "2h".
create function omega.parse_duration_ms(v jsonb, field text) returns bigint
language plpgsql immutable as $$
declare
  m text[];
  result numeric;
begin
  m := case when jsonb_typeof(v) = 'string' then regexp_match(v #>> '{}', '^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m|h)$') end;
  if m is null then
    raise exception using errcode = 'OM422', message = format('%s: a duration such as "500ms", "30s", "2m" or "1h" is required', field);
  end if;
  result := ceil(m[1]::numeric * case m[2] when 'ms' then 1 when 's' then 1000 when 'm' then 60000 else 3600000 end);
  if result > 31536000000 then
    raise exception using errcode = 'OM422', message = format('%s: at most a year', field);
  end if;
  return result::bigint;
end $$;

-- runtime: a duration, or {"min": duration, "max": duration} drawn uniformly. Returns {min, max} in ms.
create function omega.parse_runtime(v jsonb) returns bigint[]
language plpgsql immutable as $$
declare
  lo bigint;
  hi bigint;
begin
  if jsonb_typeof(v) = 'object' then
    if exists (select from jsonb_object_keys(v) k where k not in ('min', 'max')) or not (v ? 'min' and v ? 'max') then
      raise exception using errcode = 'OM422', message = 'runtime: a duration or {"min": duration, "max": duration} is required';
    end if;
    lo := omega.parse_duration_ms(v -> 'min', 'runtime.min');
    hi := omega.parse_duration_ms(v -> 'max', 'runtime.max');
    if lo > hi then
      raise exception using errcode = 'OM422', message = 'runtime.min: must not exceed runtime.max';
    end if;
    return array[lo, hi];
  end if;
  lo := omega.parse_duration_ms(v, 'runtime');
  return array[lo, lo];
end $$;

-- Submits a job (see submit_job_core for the spec's checks). With p_client_token, submitting again
-- with the same token and the same spec returns the first job's id and creates nothing; the same
-- token with another spec is refused (OM422, as the IETF Idempotency-Key draft answers). Concurrent
-- submissions with one token queue on a transaction-scoped advisory lock of (tenant, token), so
-- exactly one of them creates the job.
create function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
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

  v_job_id := omega.submit_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime');
  if p_client_token is not null or p_spec ? 'maxRetries' or v_runtime is not null then
    update omega.jobs
    set max_retries = coalesce((p_spec ->> 'maxRetries')::integer, max_retries),
        runtime_min_ms = v_runtime[1], runtime_max_ms = v_runtime[2],
        client_token = p_client_token, request_hash = v_hash
    where cell = p_spec ->> 'cell' and id = v_job_id;
  end if;
  return v_job_id;
end $$;

create function omega.submit_job(p_tenant text, p_spec jsonb) returns bigint
language sql as $$
  select omega.submit_job(p_tenant, p_spec, null)
$$;
