-- A batch's `submitted` events in one statement (session 19).
--
-- Each job inserted queued the deferred jobs_submitted_event trigger: at the commit, one call of
-- omega.record_job_event per job, each inserting one event in a statement of its own, each
-- statement firing the event feed's notification trigger. omega.submit_jobs now logs the
-- `submitted` events of the jobs it created itself, in one insert after the batch (in job order, as
-- the deferred trigger did, after every other event of the batch), and the trigger's WHEN skips
-- the jobs of its calls (it is evaluated as the row is inserted, deferred or not). A job submitted
-- any other way (omega.submit_job, a periodic launch) is logged by the trigger as before.
--
-- The setting that tells the trigger so, omega.submissions_logged, is the procedures' own like
-- those of 0331: every entry point the API role may call sets it aside for its call.
drop trigger jobs_submitted_event on omega.jobs;
create constraint trigger jobs_submitted_event after insert on omega.jobs
  deferrable initially deferred
  for each row when (current_setting('omega.submissions_logged', true) is distinct from 'on')
  execute function omega.record_job_event();

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
  -- The jobs' `submitted` events are logged below, once the batch is through.
  perform set_config('omega.submissions_logged', 'on', true);
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

-- 0331's settings and this one, set aside for the call of every entry point the API role may call.
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
