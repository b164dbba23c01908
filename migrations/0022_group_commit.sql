-- Group commit of submissions: many jobs, one transaction, one WAL flush, one wake-up per (cell,
-- scheduler). The API gathers the submissions that arrive while its previous batch commits and
-- sends them here together; under light load a batch holds one job and costs what submit_job does.
--
-- Each job is checked and inserted by omega.submit_job — the one authority on what a job spec may
-- say — inside its own subtransaction: a refused job is reported in its row and changes nothing,
-- and the others of the batch are kept. (A batch of one raises the refusal instead.) (A batch's subtransactions each take a transaction id;
-- callers keep batches to a few dozen, under the 64 a backend caches, so that no snapshot taken
-- meanwhile overflows to the slow lookup.)
create function omega.submit_jobs(p_tenants text[], p_specs jsonb[], p_client_tokens text[])
returns table (ord integer, id bigint, created boolean, error_code text, error_message text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  i integer;
  v_id bigint;
  v_created boolean;
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
    select j.created_at = now() into v_created from omega.jobs j where j.id = v_id;
    return query select 1, v_id, v_created, null::text, null::text;
    return;
  end if;
  for i in 1 .. coalesce(cardinality(p_specs), 0) loop
    begin
      v_id := omega.submit_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
      -- A job this transaction inserted carries its now(); a repeated idempotent submission does not.
      select j.created_at = now() into v_created from omega.jobs j where j.id = v_id;
      return query select i, v_id, v_created, null::text, null::text;
    exception when others then
      get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
      return query select i, null::bigint, false, v_code, v_message;
    end;
  end loop;
end $$;
call omega.grant_entry_point('submit_jobs', '{omega_api}');
