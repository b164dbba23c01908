-- Workflows: a DAG of jobs submitted in one request (SPEC "Workflows"). Each job of the workflow is
-- an ordinary job submitted by omega.submit_job — the one authority on a job spec — in topological
-- order, its `dependsOn` names translated to the ids of the jobs created before it. One transaction:
-- a cycle, an unknown name or any refused job writes nothing.

create table omega.workflows (
  cell omega.name not null references omega.cells (name),
  id bigint generated always as identity,
  tenant_id bigint not null references omega.tenants (id),
  name text not null check (length(name) between 1 and 253),
  created_at timestamptz not null default now(),
  primary key (cell, id)
);
create index workflows_by_id on omega.workflows (id);
create index workflows_by_tenant on omega.workflows (tenant_id, id);

alter table omega.jobs
  add column workflow_id bigint,
  -- The job's name within its workflow (the key of `jobs` in the request).
  add column workflow_step text,
  add constraint jobs_workflow foreign key (cell, workflow_id) references omega.workflows (cell, id);
create index jobs_by_workflow on omega.jobs (cell, workflow_id) where workflow_id is not null;

-- Submits a workflow {name, cell, jobs: {NAME: spec}} for p_tenant; returns its id. A spec's
-- dependsOn entries name other jobs of the workflow ({"job": "NAME"}) or existing jobs by id; a
-- spec's cell, when given, must be the workflow's.
create function omega.submit_workflow(p_tenant text, p_spec jsonb) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_cell text;
  v_workflow_id bigint;
  v_ids jsonb := '{}';
  v_left text[];
  v_next text[];
  v_step text;
  v_job jsonb;
  v_deps jsonb;
  v_job_id bigint;
  k text;
  e jsonb;
  i integer;
begin
  if jsonb_typeof(p_spec) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'the workflow must be a JSON object';
  end if;
  for k in select jsonb_object_keys(p_spec) loop
    if k not in ('name', 'cell', 'jobs') then
      raise exception using errcode = 'OM422', message = format('%s: unknown field', k);
    end if;
  end loop;
  if jsonb_typeof(p_spec -> 'name') is distinct from 'string' or length(p_spec ->> 'name') not between 1 and 253 then
    raise exception using errcode = 'OM422', message = 'name: a string of 1 to 253 characters is required';
  end if;
  if jsonb_typeof(p_spec -> 'cell') is distinct from 'string' then
    raise exception using errcode = 'OM422', message = 'cell: a cell name is required';
  end if;
  v_cell := p_spec ->> 'cell';
  if not exists (select from omega.cells where name = v_cell) then
    raise exception using errcode = 'OM422', message = format('cell: %L does not exist', v_cell);
  end if;
  select id into v_tenant_id from omega.tenants where name = p_tenant;
  if v_tenant_id is null then
    raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
  end if;
  if jsonb_typeof(p_spec -> 'jobs') is distinct from 'object'
     or (select count(*) from jsonb_object_keys(p_spec -> 'jobs')) not between 1 and 1000 then
    raise exception using errcode = 'OM422', message = 'jobs: an object of 1 to 1000 named job specs is required';
  end if;
  -- Names and their dependencies, before anything is written.
  for k, v_job in select key, value from jsonb_each(p_spec -> 'jobs') loop
    if k !~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$' then
      raise exception using errcode = 'OM422',
        message = format('jobs.%s: a job name is 1-63 letters, digits, ''.'', ''_'' or ''-''', k);
    end if;
    if jsonb_typeof(v_job) is distinct from 'object' then
      raise exception using errcode = 'OM422', message = format('jobs.%s: a job spec object is required', k);
    end if;
    if v_job ? 'cell' and v_job -> 'cell' is distinct from p_spec -> 'cell' then
      raise exception using errcode = 'OM422', message = format('jobs.%s.cell: must be the workflow''s cell, %s', k, v_cell);
    end if;
    v_deps := coalesce(v_job -> 'dependsOn', '[]');
    if jsonb_typeof(v_deps) is distinct from 'array' then
      raise exception using errcode = 'OM422', message = format('jobs.%s.dependsOn: a list of {job, condition} is required', k);
    end if;
    i := 0;
    for e in select value from jsonb_array_elements(v_deps) loop
      if jsonb_typeof(e -> 'job') = 'string' and not (p_spec -> 'jobs') ? (e ->> 'job') then
        raise exception using errcode = 'OM422',
          message = format('jobs.%s.dependsOn[%s].job: no job named %L in this workflow', k, i, e ->> 'job');
      end if;
      if jsonb_typeof(e -> 'job') = 'string' and e ->> 'job' = k then
        raise exception using errcode = 'OM422', message = format('jobs.%s.dependsOn[%s].job: a job cannot depend on itself', k, i);
      end if;
      i := i + 1;
    end loop;
  end loop;

  insert into omega.workflows (cell, tenant_id, name) values (v_cell, v_tenant_id, p_spec ->> 'name')
  returning id into v_workflow_id;

  -- Kahn's algorithm: submit every job whose named dependencies are all submitted, until none is left.
  select array_agg(key order by key) into v_left from jsonb_object_keys(p_spec -> 'jobs') key;
  while cardinality(v_left) > 0 loop
    select coalesce(array_agg(s order by s), '{}') into v_next from unnest(v_left) s
    where not exists (
      select from jsonb_array_elements(coalesce(p_spec -> 'jobs' -> s -> 'dependsOn', '[]')) d
      where jsonb_typeof(d -> 'job') = 'string' and not v_ids ? (d ->> 'job'));
    if cardinality(v_next) = 0 then
      raise exception using errcode = 'OM422',
        message = format('jobs: a cycle among %s: a job may only depend on jobs that can run before it',
          array_to_string(v_left, ', '));
    end if;
    foreach v_step in array v_next loop
      v_job := p_spec -> 'jobs' -> v_step;
      if v_job ? 'dependsOn' then
        v_job := jsonb_set(v_job, '{dependsOn}', (
          select coalesce(jsonb_agg(case when jsonb_typeof(d -> 'job') = 'string'
                                          then jsonb_set(d, '{job}', v_ids -> (d ->> 'job')) else d end
                                    order by n), '[]')
          from jsonb_array_elements(v_job -> 'dependsOn') with ordinality x(d, n)));
      end if;
      v_job := v_job || jsonb_build_object('cell', v_cell, 'name', coalesce(v_job ->> 'name', v_step));
      begin
        v_job_id := omega.submit_job(p_tenant, v_job, null);
      exception when sqlstate 'OM422' or sqlstate 'OM429' or sqlstate 'OM404' then
        declare
          v_code text;
          v_message text;
        begin
          get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
          raise exception using errcode = v_code, message = format('jobs.%s.%s', v_step, v_message);
        end;
      end;
      update omega.jobs set workflow_id = v_workflow_id, workflow_step = v_step
      where cell = v_cell and id = v_job_id;
      v_ids := v_ids || jsonb_build_object(v_step, v_job_id);
    end loop;
    select coalesce(array_agg(s order by s), '{}') into v_left from unnest(v_left) s where not v_ids ? s;
  end loop;
  return v_workflow_id;
end $$;
call omega.grant_entry_point('submit_workflow', '{omega_api}');

-- Cancels what has not finished of a workflow (p_tenant, when given, must own it). Its jobs are
-- locked in id order first, as every writer locks jobs, then cancelled newest first: a dependent is
-- cancelled before the job it waits for, so it is `cancelled`, not failed by the cascade.
create function omega.cancel_workflow(p_workflow_id bigint, p_tenant text default null) returns integer
language plpgsql as $$
declare
  w omega.workflows;
  v_id bigint;
  n integer := 0;
begin
  select * into w from omega.workflows
  where id = p_workflow_id
    and (p_tenant is null or tenant_id = (select id from omega.tenants where name = p_tenant));
  if w.id is null then
    raise exception using errcode = 'OM404', message = format('workflow %s does not exist', p_workflow_id);
  end if;
  perform from omega.jobs where cell = w.cell and workflow_id = w.id order by id for update;
  for v_id in
    select id from omega.jobs
    where cell = w.cell and workflow_id = w.id and state not in ('succeeded', 'failed', 'cancelled')
    order by id desc
  loop
    if omega.cancel_job(v_id) = 'cancelled' then
      n := n + 1;
    end if;
  end loop;
  return n;
end $$;
call omega.grant_entry_point('cancel_workflow', '{omega_api}');

-- One row per job of a workflow: the DAG with each job's state.
create view omega.workflow_jobs as
select w.id as workflow_id, w.name as workflow, w.cell, t.name as tenant, j.workflow_step as step,
  j.id as job_id, j.state, j.pending_count, j.reason,
  coalesce((select jsonb_agg(jsonb_build_object('job', d.depends_on, 'step', p.workflow_step,
              'condition', d.condition, 'state', d.state) order by d.depends_on)
            from omega.job_dependencies d
            join omega.jobs p on p.cell = d.cell and p.id = d.depends_on
            where d.cell = j.cell and d.job_id = j.id), '[]') as depends_on
from omega.workflows w
join omega.tenants t on t.id = w.tenant_id
join omega.jobs j on j.cell = w.cell and j.workflow_id = w.id;
