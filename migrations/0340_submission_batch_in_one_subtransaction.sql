-- A batch of submissions in one subtransaction, not one per job (session 19).
--
-- omega.submit_jobs ran each job of a batch in its own subtransaction (a PL/pgSQL block with an
-- exception handler), so that a refused job leaves the others standing. Each such block costs a
-- subtransaction start and end, a transaction id of its own once it writes (listed in the commit
-- record and in pg_subtrans), and, where a later job's subtransaction updates a row an earlier
-- one locked (the tenant's pending-task count, the parent rows its foreign keys lock), a
-- MultiXact combining them. Most batches hold no refusal: now the jobs go in one block. A refusal
-- rolls that block back; the jobs before the refused one are redone together (they passed once),
-- then the refused one is tried first in the next block, after exactly the jobs before it, as it
-- was before 0340 (a refusal's message may name one of them), and the batch goes on after it.
-- A job runs at most twice; the answers are those of one subtransaction per job, job by job.
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
  v_upto := n;
  while v_from <= n loop
    i := v_from;
    begin
      while i <= v_upto loop
        v_ids[i] := omega.submit_one_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
        select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_ids[i];
        v_jobs[i] := v_job;
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
  return query
  select k, case when v_codes[k] is null then v_ids[k] end, v_codes[k] is null and v_jobs[k] is not null,
    v_codes[k], v_messages[k], case when v_codes[k] is null then v_jobs[k] end
  from generate_series(1, n) as k;
end $$;
call omega.grant_entry_point('submit_jobs', '{omega_api}');
-- 0331: the procedures' own settings, set aside for the call (grant_entry_point does not keep them).
alter function omega.submit_jobs(text[], jsonb[], text[])
  set omega.backlog_counted = '' set omega.task_moves_logged = '' set omega.claims_verified = ''
  set omega.pending_counted = '' set omega.freed_machines = '';
