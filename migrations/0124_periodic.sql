-- Periodic jobs (SPEC "Workflows"): a cron schedule in a time zone launches a job spec.
--
-- Our own loop, not graphile-worker's crontab: the crontab is a static file read at a worker's
-- start, with minute resolution and one time zone, while periodic jobs are rows users add and
-- remove at any time, each in its time zone, some every few seconds. Every scheduler worker process
-- runs the loop (src/periodic/launcher.ts) on the database's clock: it reads the rows whose
-- next_run_at <= now(), computes the scheduled times up to the database's now (cron-parser, with the
-- row's time zone), and hands them to omega.run_periodic. Each scheduled time launches at most one
-- job however many workers race: the row is locked SKIP LOCKED, next_run_at must be what the worker
-- read, and the launch itself is a row keyed by (cell, periodic job, scheduled time).

create table omega.periodic (
  cell omega.name not null references omega.cells (name),
  id bigint generated always as identity,
  tenant_id bigint not null references omega.tenants (id),
  name omega.name not null,
  schedule text not null check (length(schedule) between 1 and 200),
  time_zone text not null default 'UTC' check (length(time_zone) between 1 and 100),
  concurrency_policy text not null default 'Allow' check (concurrency_policy in ('Allow', 'Forbid', 'Replace')),
  starting_deadline_seconds integer not null default 60 check (starting_deadline_seconds between 1 and 31536000),
  job_spec jsonb not null check (jsonb_typeof(job_spec) = 'object'),
  suspended boolean not null default false,
  -- The next scheduled time not yet handled; written by the launcher, which parses the schedule.
  next_run_at timestamptz not null,
  -- The scheduled time of the last launch, and the job it launched.
  last_run_at timestamptz,
  last_job_id bigint,
  created_at timestamptz not null default now(),
  primary key (cell, id),
  unique (cell, tenant_id, name)
);
create index periodic_by_id on omega.periodic (id);
create index periodic_due on omega.periodic (next_run_at) where not suspended;

-- One row per scheduled time handled: the key that makes each launch happen once.
create table omega.periodic_launches (
  cell omega.name not null,
  periodic_id bigint not null,
  scheduled_at timestamptz not null,
  outcome text not null check (outcome in ('launched', 'skipped', 'refused')),
  job_id bigint,
  reason text,
  launched_at timestamptz not null default now(),
  primary key (cell, periodic_id, scheduled_at),
  foreign key (cell, periodic_id) references omega.periodic (cell, id) on delete cascade
);

alter table omega.jobs add column periodic_id bigint;

-- Creates a periodic job. The schedule and time zone were parsed by the API (cron-parser), which
-- passes the first scheduled time; the job spec is checked here by submitting it in a
-- subtransaction that is rolled back, so a spec that could never launch is refused now (422), with
-- omega.submit_job's own words.
create function omega.create_periodic(p_tenant text, p_spec jsonb, p_next_run_at timestamptz) returns bigint
language plpgsql as $$
declare
  v_tenant_id bigint;
  v_job jsonb := p_spec -> 'job';
  v_id bigint;
  v_code text;
  v_message text;
begin
  select id into v_tenant_id from omega.tenants where name = p_tenant;
  if v_tenant_id is null then
    raise exception using errcode = 'OM404', message = format('tenant %L does not exist', p_tenant);
  end if;
  if jsonb_typeof(v_job) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'job: a job spec object is required';
  end if;
  if v_job ? 'dependsOn' or v_job ? 'prePlace' then
    raise exception using errcode = 'OM422', message = 'job.dependsOn: a periodic job cannot depend on other jobs';
  end if;
  if jsonb_typeof(p_spec -> 'name') is distinct from 'string' or p_spec ->> 'name' !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' then
    raise exception using errcode = 'OM422', message = 'name: 1-63 lowercase letters, digits or ''-'' are required';
  end if;
  begin
    perform omega.submit_job(p_tenant, v_job, null);
    raise exception using errcode = 'OMDRY';
  exception when sqlstate 'OMDRY' then
    null;
  when sqlstate 'OM422' or sqlstate 'OM404' then
    get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
    raise exception using errcode = v_code, message = 'job.' || v_message;
  end;
  if exists (select from omega.periodic where cell = v_job ->> 'cell' and tenant_id = v_tenant_id and name = p_spec ->> 'name') then
    raise exception using errcode = 'OM409', message = format('periodic job %L already exists', p_spec ->> 'name');
  end if;
  insert into omega.periodic (cell, tenant_id, name, schedule, time_zone, concurrency_policy,
    starting_deadline_seconds, job_spec, suspended, next_run_at)
  values (v_job ->> 'cell', v_tenant_id, p_spec ->> 'name', p_spec ->> 'schedule', coalesce(p_spec ->> 'timeZone', 'UTC'),
    coalesce(p_spec ->> 'concurrencyPolicy', 'Allow'), coalesce((p_spec ->> 'startingDeadlineSeconds')::integer, 60),
    v_job, coalesce((p_spec ->> 'suspend')::boolean, false), p_next_run_at)
  returning id into v_id;
  return v_id;
end $$;
call omega.grant_entry_point('create_periodic', '{omega_api}');

-- Deletes a periodic job (p_tenant, when given, must own it): no more launches; jobs it launched
-- keep running. Returns whether there was one.
create function omega.delete_periodic(p_id bigint, p_tenant text default null) returns boolean
language plpgsql as $$
begin
  delete from omega.periodic
  where id = p_id and (p_tenant is null or tenant_id = (select id from omega.tenants where name = p_tenant));
  return found;
end $$;
call omega.grant_entry_point('delete_periodic', '{omega_api}');

-- Pauses or resumes a periodic job. Resuming takes the next scheduled time from the caller (the API
-- parses the schedule): what was due while it was paused is not made up.
create function omega.set_periodic_suspended(p_id bigint, p_tenant text, p_suspended boolean, p_next_run_at timestamptz)
returns boolean
language plpgsql as $$
begin
  update omega.periodic set suspended = p_suspended,
    next_run_at = case when not p_suspended and suspended then coalesce(p_next_run_at, next_run_at) else next_run_at end
  where id = p_id and (p_tenant is null or tenant_id = (select id from omega.tenants where name = p_tenant));
  return found;
end $$;
call omega.grant_entry_point('set_periodic_suspended', '{omega_api}');

-- Launches (or skips) one scheduled time of a periodic job whose row the caller holds locked.
create function omega.launch_periodic(p omega.periodic, p_at timestamptz) returns text
language plpgsql as $$
declare
  v_last omega.jobs;
  v_job_id bigint;
  v_tenant text;
  v_message text;
begin
  insert into omega.periodic_launches (cell, periodic_id, scheduled_at, outcome)
  values (p.cell, p.id, p_at, 'skipped')
  on conflict do nothing;
  if not found then
    return 'duplicate';
  end if;
  select * into v_last from omega.jobs where cell = p.cell and id = p.last_job_id;
  if v_last.state in ('pending', 'placed', 'running') then
    if p.concurrency_policy = 'Forbid' then
      update omega.periodic_launches set reason = format('job %s of the previous run has not finished (Forbid)', v_last.id)
      where cell = p.cell and periodic_id = p.id and scheduled_at = p_at;
      return 'skipped';
    elsif p.concurrency_policy = 'Replace' then
      perform omega.cancel_job(v_last.id);
    end if;
  end if;
  select name into v_tenant from omega.tenants where id = p.tenant_id;
  begin
    v_job_id := omega.submit_job(v_tenant, p.job_spec, null);
  exception when sqlstate 'OM422' or sqlstate 'OM429' or sqlstate 'OM404' then
    get stacked diagnostics v_message = message_text;
    update omega.periodic_launches set outcome = 'refused', reason = v_message
    where cell = p.cell and periodic_id = p.id and scheduled_at = p_at;
    return 'refused';
  end;
  update omega.jobs set periodic_id = p.id where cell = p.cell and id = v_job_id;
  update omega.periodic_launches set outcome = 'launched', job_id = v_job_id
  where cell = p.cell and periodic_id = p.id and scheduled_at = p_at;
  update omega.periodic set last_run_at = p_at, last_job_id = v_job_id where cell = p.cell and id = p.id;
  insert into omega.events (cell, job_id, kind, reason)
  values (p.cell, v_job_id, 'launched', format('periodic job %s (%s), scheduled at %s', p.name, p.id, p_at));
  return 'launched';
end $$;

-- The launcher's step for one periodic job: launches each of p_times (the scheduled times from the
-- row's next_run_at up to the database's now, as the worker computed them, the ones older than
-- startingDeadlineSeconds already left out), then moves next_run_at to p_next. Does nothing when
-- another worker holds the row or has already moved it past p_expected. Returns the launches.
create function omega.run_periodic(p_cell text, p_id bigint, p_expected timestamptz, p_times timestamptz[],
  p_next timestamptz)
returns integer
language plpgsql as $$
declare
  p omega.periodic;
  t timestamptz;
  n integer := 0;
begin
  select * into p from omega.periodic where cell = p_cell and id = p_id for update skip locked;
  if p.id is null or p.suspended or p.next_run_at is distinct from p_expected then
    return 0;
  end if;
  foreach t in array coalesce(p_times, '{}') loop
    if t >= now() - make_interval(secs => p.starting_deadline_seconds) and t <= now() then
      if omega.launch_periodic(p, t) = 'launched' then
        n := n + 1;
      end if;
      select * into p from omega.periodic where cell = p_cell and id = p_id;
    end if;
  end loop;
  update omega.periodic set next_run_at = p_next where cell = p_cell and id = p_id;
  return n;
end $$;
call omega.grant_entry_point('run_periodic', '{omega_scheduler}');

-- One row per periodic job, with its next and last run.
create view omega.periodic_jobs as
select p.id, p.cell, t.name as tenant, p.name, p.schedule, p.time_zone, p.concurrency_policy,
  p.starting_deadline_seconds, p.suspended, p.next_run_at, p.last_run_at, p.last_job_id,
  j.state as last_job_state, p.job_spec, p.created_at,
  (select count(*) from omega.periodic_launches l
   where l.cell = p.cell and l.periodic_id = p.id and l.outcome = 'launched') as launches
from omega.periodic p
join omega.tenants t on t.id = p.tenant_id
left join omega.jobs j on j.cell = p.cell and j.id = p.last_job_id;
