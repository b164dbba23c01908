-- Job labels, host ports and the constraints beyond node affinity (issue 11), stored where the
-- commit procedure and the schedulers read them.
--
--   jobs.labels      the job's labels (what jobAffinity / jobAntiAffinity selectors match)
--   jobs.ports       host ports each task holds on its machine
--   jobs.vocabulary  {preferredAffinity, topologySpread, jobAffinity, jobAntiAffinity} as the spec
--                    gave them, only those it gave; null for a job that uses none (most jobs), so
--                    that the commit and the planner skip all of it at the cost of one test
--   claim_ports      one row per (machine, port) held: its primary key is the invariant that no
--                    two claims on one machine hold one port (SPEC invariant 4)
--
-- Replaces submit_job(text, jsonb, text) of 0013: the two new top-level fields (labels, ports) are
-- taken off the spec before submit_job_core, as maxRetries and runtime are, and
-- store_job_vocabulary checks and stores them and the new constraints. Nothing else changed.

alter table omega.jobs
  add column labels jsonb not null default '{}' check (jsonb_typeof(labels) = 'object'),
  add column ports integer[] not null default '{}',
  add column vocabulary jsonb check (jsonb_typeof(vocabulary) = 'object');

-- Live jobs whose anti-affinity may repel a new task (the reverse direction of the rule): few, so
-- a commit finds them in one index probe; and jobs with labels, for the selectors of the terms.
create index jobs_repelling on omega.jobs (cell, id)
  where vocabulary ? 'jobAntiAffinity' and state in ('pending', 'placed', 'running');
create index jobs_labelled on omega.jobs using gin (labels)
  where labels <> '{}' and state in ('pending', 'placed', 'running');

create table omega.claim_ports (
  cell omega.name not null,
  machine_id bigint not null,
  port integer not null check (port between 1 and 65535),
  task_id bigint not null,
  primary key (cell, machine_id, port),
  foreign key (cell, task_id) references omega.claims (cell, task_id) on delete cascade
);
create index claim_ports_by_task on omega.claim_ports (cell, task_id);

-- Claims of jobs with ports hold them: one set-based insert per statement, from the transition
-- table, joined with the jobs that have ports (a commit of jobs without ports inserts nothing).
-- SECURITY DEFINER: the schedulers' role writes claims only through commit_plan.
create function omega.claims_hold_ports() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into omega.claim_ports (cell, machine_id, port, task_id)
  select n.cell, n.machine_id, p.port, n.task_id
  from new_claims n
  join omega.jobs j on j.cell = n.cell and j.id = n.job_id and j.ports <> '{}'
  cross join lateral unnest(j.ports) as p(port);
  return null;
end $$;
create trigger claims_ports after insert on omega.claims
  referencing new table as new_claims
  for each statement execute function omega.claims_hold_ports();

-- Checks and stores what submit_job_core does not know of: labels, ports, and the constraints
-- beyond node affinity (check_constraints has checked those).
create function omega.store_job_vocabulary(p_cell text, p_job_id bigint, p_spec jsonb) returns void
language plpgsql as $$
declare
  v_con jsonb := coalesce(p_spec -> 'constraints', '{}');
  v_vocabulary jsonb;
  v_ports integer[];
begin
  if p_spec ? 'labels' then
    perform omega.check_label_map(p_spec -> 'labels', 'labels');
  end if;
  if p_spec ? 'ports' then
    if jsonb_typeof(p_spec -> 'ports') <> 'array' or jsonb_array_length(p_spec -> 'ports') > 100
       or exists (select from jsonb_array_elements(p_spec -> 'ports') p where not omega.is_whole(p, 1, 65535)) then
      raise exception using errcode = 'OM422', message = 'ports: an array of at most 100 port numbers 1-65535 is required';
    end if;
    v_ports := array(select (p #>> '{}')::integer from jsonb_array_elements(p_spec -> 'ports') p);
    if cardinality(v_ports) <> (select count(distinct x) from unnest(v_ports) x) then
      raise exception using errcode = 'OM422', message = 'ports: a port is listed twice';
    end if;
  end if;
  v_vocabulary := nullif(jsonb_strip_nulls(jsonb_build_object(
    'preferredAffinity', nullif(v_con -> 'preferredAffinity', '[]'),
    'topologySpread', nullif(v_con -> 'topologySpread', '[]'),
    'jobAffinity', nullif(v_con -> 'jobAffinity', '[]'),
    'jobAntiAffinity', nullif(v_con -> 'jobAntiAffinity', '[]'))), '{}');
  if v_vocabulary is not null or coalesce(p_spec -> 'labels', '{}') <> '{}' or cardinality(v_ports) > 0 then
    update omega.jobs
    set labels = coalesce(p_spec -> 'labels', '{}'), ports = coalesce(v_ports, '{}'), vocabulary = v_vocabulary
    where cell = p_cell and id = p_job_id;
  end if;
end $$;

create or replace function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
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

  v_job_id := omega.submit_job_core(p_tenant, p_spec - 'maxRetries' - 'runtime' - 'labels' - 'ports');
  perform omega.store_job_vocabulary(p_spec ->> 'cell', v_job_id, p_spec);
  if p_client_token is not null or p_spec ? 'maxRetries' or v_runtime is not null then
    update omega.jobs
    set max_retries = coalesce((p_spec ->> 'maxRetries')::integer, max_retries),
        runtime_min_ms = v_runtime[1], runtime_max_ms = v_runtime[2],
        client_token = p_client_token, request_hash = v_hash
    where cell = p_spec ->> 'cell' and id = v_job_id;
  end if;
  return v_job_id;
end $$;
call omega.grant_entry_point('submit_job', '{omega_api}');
revoke execute on function omega.claims_hold_ports() from public;
