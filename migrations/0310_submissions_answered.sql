-- The API answered every accepted submission with a second statement that read the job back
-- (omega.jobs_get, from src/db/queries/job-get.ts): about 1 ms of backend time a call under load at
-- 200 jobs/s, half a call a job, planned anew after each analyze of the growing tables. The
-- transaction that creates a job knows it: omega.submit_jobs now also returns the new job's row
-- (`job`, as JSON), and the API builds its answer from that (freshJobDetail, which a test holds
-- equal to what the read-back answers). A repeated idempotent submission (created = false) returns
-- no row and is still read back: its job may have moved since. Otherwise as 0022 / 0220; another
-- output column changes the function's type, so it is dropped and created again, with its grant.
drop function omega.submit_jobs(text[], jsonb[], text[]);

create function omega.submit_jobs(p_tenants text[], p_specs jsonb[], p_client_tokens text[])
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
    v_id := omega.submit_job(p_tenants[1], p_specs[1], p_client_tokens[1]);
    -- A job this transaction inserted carries its now(); a repeated idempotent submission does not.
    select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
    return query select 1, v_id, v_job is not null, null::text, null::text, v_job;
    return;
  end if;
  for i in 1 .. coalesce(cardinality(p_specs), 0) loop
    begin
      v_id := omega.submit_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
      select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
      return query select i, v_id, v_job is not null, null::text, null::text, v_job;
    exception when others then
      get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
      return query select i, null::bigint, false, v_code, v_message, null::jsonb;
    end;
  end loop;
end $$;

call omega.grant_entry_point('submit_jobs', '{omega_api}');
