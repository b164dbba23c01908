-- One tenant cannot hurt the others (issue 17): what a tenant may ask for is the admin's to set.
--
--   priority rights    a tenant may submit up to its max_priority (default 199: the top of batch);
--                      Kubernetes' PriorityClass admission, Borg's "production is scarce".
--   missing quota      per cell and band, a band with no quota row for a tenant means "unlimited"
--                      or "none" (default: none for production, unlimited for batch; best-effort
--                      has no quota). Kubernetes' ResourceQuota scopes, Borg's quota per band.
--   admission limits   tasks per job, pending tasks per tenant, a minimum request per task.
--   (jobs per minute is a token bucket in the API process: src/api/rate-limit.ts.)
--
-- Every rule is checked here, in omega.submit_job, so HTTP and SQL submission cannot drift.

alter table omega.tenants
  -- The highest priority the tenant may give a job (0-999). Default: the top of the batch band.
  add column max_priority integer not null default 199 check (max_priority between 0 and 999),
  add column max_tasks_per_job integer not null default 10000 check (max_tasks_per_job between 1 and 100000),
  -- Tasks of the tenant's jobs still waiting to be placed, over every cell.
  add column max_pending_tasks integer not null default 100000 check (max_pending_tasks between 1 and 100000000),
  -- The API's token bucket: this many submissions a minute, bursts of as many.
  add column jobs_per_minute integer not null default 600 check (jobs_per_minute between 1 and 1000000),
  -- The least a task may request (Kubernetes' LimitRange min). 0 lets a task request nothing.
  add column min_task_cpu bigint not null default 10 check (min_task_cpu between 0 and 1000000000000),
  add column min_task_memory bigint not null default 0 check (min_task_memory between 0 and 1000000000000);

alter table omega.cells
  add column missing_quota_batch text not null default 'unlimited'
    check (missing_quota_batch in ('unlimited', 'none')),
  add column missing_quota_production text not null default 'none'
    check (missing_quota_production in ('unlimited', 'none'));

-- The pending-task limit sums the tenant's pending jobs: an index of those alone keeps it cheap.
create index jobs_pending_by_tenant on omega.jobs (tenant_id) include (pending_count) where state = 'pending';

-- Per-machine task cap (Kubernetes' max pods per node, default 110): a machine cannot be flooded
-- with thousands of tiny tasks whatever their requests. The CHECK makes it a property of every row,
-- whoever writes claims; commit_plan gives a per-placement verdict before it.
alter table omega.machines add column max_tasks integer not null default 110
  check (max_tasks between 1 and 100000);
-- A machine already holding more keeps what it holds (its cap is raised to it), so upgrading
-- evicts nothing.
update omega.machines set max_tasks = least(tasks, 100000) where tasks > 110;
alter table omega.machines add constraint machines_max_tasks check (tasks <= max_tasks);

-- ---------------------------------------------------------------------------------------------
-- Label-shaped input, with the same rules as src/domain/job-spec.ts (the conformance suite,
-- test/conformance/submission.test.ts, runs one table of cases through both).

create function omega.check_label_key(p_key text, p_field text) returns void
language plpgsql immutable as $$
begin
  if p_key is null or p_key !~ '^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$' then
    raise exception using errcode = 'OM422',
      message = format('%s: %s must be 1-253 letters, digits, ''.'', ''_'', ''-'' or ''/''', p_field, coalesce(quote_literal(p_key), 'a key'));
  end if;
end $$;

create function omega.check_label_value(p_value jsonb, p_field text) returns void
language plpgsql immutable as $$
begin
  if jsonb_typeof(p_value) is distinct from 'string' or length(p_value #>> '{}') > 253 then
    raise exception using errcode = 'OM422', message = format('%s: a string of at most 253 characters is required', p_field);
  end if;
end $$;

-- A string map (labels, a selector): at most 100 entries, label keys, short string values.
create function omega.check_label_map(p_map jsonb, p_field text) returns void
language plpgsql immutable as $$
declare
  e record;
begin
  if jsonb_typeof(p_map) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = format('%s: an object of string values is required', p_field);
  end if;
  if (select count(*) from jsonb_object_keys(p_map)) > 100 then
    raise exception using errcode = 'OM422', message = format('%s: at most 100 entries', p_field);
  end if;
  for e in select key, value from jsonb_each(p_map) loop
    perform omega.check_label_key(e.key, p_field);
    perform omega.check_label_value(e.value, p_field || '.' || e.key);
  end loop;
end $$;

-- Taints and tolerations: at most 100 objects {key, value?}, nothing else.
create function omega.check_key_values(p_list jsonb, p_field text) returns void
language plpgsql immutable as $$
declare
  t jsonb;
  i integer := 0;
begin
  if jsonb_typeof(p_list) is distinct from 'array' then
    raise exception using errcode = 'OM422', message = format('%s: an array of {key, value?} objects is required', p_field);
  end if;
  if jsonb_array_length(p_list) > 100 then
    raise exception using errcode = 'OM422', message = format('%s: at most 100 entries', p_field);
  end if;
  for t in select value from jsonb_array_elements(p_list) loop
    if jsonb_typeof(t) is distinct from 'object' or exists (select from jsonb_object_keys(t) k where k not in ('key', 'value'))
       or jsonb_typeof(t -> 'key') is distinct from 'string' then
      raise exception using errcode = 'OM422', message = format('%s.%s: an object {key, value?} is required', p_field, i);
    end if;
    perform omega.check_label_key(t ->> 'key', format('%s.%s.key', p_field, i));
    if t ? 'value' then
      perform omega.check_label_value(t -> 'value', format('%s.%s.value', p_field, i));
    end if;
    i := i + 1;
  end loop;
end $$;

create or replace function omega.check_labels(p_labels jsonb, p_taints jsonb) returns void
language plpgsql immutable as $$
begin
  perform omega.check_label_map(p_labels, 'labels');
  perform omega.check_key_values(p_taints, 'taints');
end $$;

-- The constraints of a job spec (also what how_many_fit takes), by the rules of the HTTP schema.
create or replace function omega.check_constraints(c jsonb) returns void
language plpgsql immutable as $$
declare
  k text;
  t jsonb;
  i integer := 0;
begin
  if jsonb_typeof(c) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'constraints: an object is required';
  end if;
  for k in select jsonb_object_keys(c) loop
    if k not in ('selector', 'affinity', 'tolerations', 'maxPerMachine', 'spreadBy') then
      raise exception using errcode = 'OM422', message = format('constraints: unknown field %L', k);
    end if;
  end loop;
  if c ? 'selector' then
    perform omega.check_label_map(c -> 'selector', 'constraints.selector');
  end if;
  if c ? 'affinity' then
    if jsonb_typeof(c -> 'affinity') <> 'array' or jsonb_array_length(c -> 'affinity') > 100 then
      raise exception using errcode = 'OM422', message = 'constraints.affinity: an array of at most 100 {key, op, values?} terms is required';
    end if;
    for t in select value from jsonb_array_elements(c -> 'affinity') loop
      if jsonb_typeof(t) is distinct from 'object'
         or exists (select from jsonb_object_keys(t) tk where tk not in ('key', 'op', 'values'))
         or jsonb_typeof(t -> 'key') is distinct from 'string'
         or coalesce(t ->> 'op', '') not in ('In', 'NotIn', 'Exists', 'DoesNotExist') then
        raise exception using errcode = 'OM422',
          message = format('constraints.affinity.%s: {key, op: In|NotIn|Exists|DoesNotExist, values?: [string]} is required', i);
      end if;
      perform omega.check_label_key(t ->> 'key', format('constraints.affinity.%s.key', i));
      if t ? 'values' then
        if jsonb_typeof(t -> 'values') <> 'array' or jsonb_array_length(t -> 'values') > 100 then
          raise exception using errcode = 'OM422', message = format('constraints.affinity.%s.values: an array of at most 100 strings is required', i);
        end if;
        perform omega.check_label_value(v, format('constraints.affinity.%s.values', i)) from jsonb_array_elements(t -> 'values') v;
      end if;
      -- In and NotIn with no values would match nothing, or everything: a job that waits forever.
      if t ->> 'op' in ('In', 'NotIn') and coalesce(jsonb_array_length(t -> 'values'), 0) = 0 then
        raise exception using errcode = 'OM422',
          message = format('constraints.affinity.%s.values: %s needs a non-empty list of values', i, t ->> 'op');
      elsif t ->> 'op' in ('Exists', 'DoesNotExist') and coalesce(jsonb_array_length(t -> 'values'), 0) > 0 then
        raise exception using errcode = 'OM422', message = format('constraints.affinity.%s.values: %s takes no values', i, t ->> 'op');
      end if;
      i := i + 1;
    end loop;
  end if;
  if c ? 'tolerations' then
    perform omega.check_key_values(c -> 'tolerations', 'constraints.tolerations');
  end if;
  if c ? 'maxPerMachine' and not omega.is_whole(c -> 'maxPerMachine', 1, 100000) then
    raise exception using errcode = 'OM422', message = 'constraints.maxPerMachine: a whole number from 1 to 100000 is required';
  end if;
  if c ? 'spreadBy' then
    if jsonb_typeof(c -> 'spreadBy') <> 'string' then
      raise exception using errcode = 'OM422', message = 'constraints.spreadBy: a label name is required';
    end if;
    perform omega.check_label_key(c ->> 'spreadBy', 'constraints.spreadBy');
  end if;
end $$;

-- A quantity string is at most 64 characters, as over HTTP.
create or replace function omega.parse_quantity(v jsonb, dimension text) returns bigint
language plpgsql immutable as $$
declare
  m text[];
  amount numeric;
  factor numeric;
  result numeric;
begin
  if v is null or jsonb_typeof(v) = 'null' then
    return 0;
  elsif jsonb_typeof(v) = 'number' then
    result := v::text::numeric;
    if result <> trunc(result) then
      raise exception using errcode = 'OM422', message = format('resources.%s: a number must be a whole count of base units', dimension);
    end if;
  elsif jsonb_typeof(v) = 'string' then
    if length(v #>> '{}') > 64 then
      raise exception using errcode = 'OM422', message = format('resources.%s: is not a quantity (too long)', dimension);
    end if;
    m := regexp_match(v #>> '{}', '^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$');
    if m is null then
      raise exception using errcode = 'OM422', message = format('resources.%s: %s is not a quantity (examples: "500m", "2", "512Mi", "4Gi")', dimension, v);
    end if;
    amount := m[1]::numeric;
    factor := case coalesce(m[2], '')
      when '' then 1 when 'm' then 0.001
      when 'k' then 1e3 when 'M' then 1e6 when 'G' then 1e9 when 'T' then 1e12 when 'P' then 1e15 when 'E' then 1e18
      when 'Ki' then 1024::numeric when 'Mi' then 1024::numeric ^ 2 when 'Gi' then 1024::numeric ^ 3
      when 'Ti' then 1024::numeric ^ 4 when 'Pi' then 1024::numeric ^ 5 when 'Ei' then 1024::numeric ^ 6 end;
    result := case dimension
      when 'cpu' then ceil(amount * factor * 1000)
      when 'memory' then ceil(amount * factor / 1048576)
      when 'disk' then ceil(amount * factor / 1048576)
      else ceil(amount * factor) end;
  else
    raise exception using errcode = 'OM422', message = format('resources.%s: expected a number or a quantity string', dimension);
  end if;
  if result < 0 or result > 1000000000000 then
    raise exception using errcode = 'OM422', message = format('resources.%s: %s is out of range (0 to 10^12 base units)', dimension, v);
  end if;
  return result::bigint;
end $$;
