-- The placement vocabulary's input rules (issue 11), as src/domain/job-spec.ts has them (the
-- conformance suite, test/conformance/submission.test.ts, runs one table through both):
--   taints        {key, value?, effect?: NoSchedule|PreferNoSchedule|NoExecute}
--   tolerations   {key?, operator?: Equal|Exists, value?, effect?, tolerationSeconds?} with
--                 Kubernetes' rules: an empty key needs Exists; Exists takes no value;
--                 tolerationSeconds needs effect NoExecute
--   affinity      {key, operator | op: In|NotIn|Exists|DoesNotExist|Gt|Lt, values?}; Gt/Lt take
--                 exactly one integer value
--   preferredAffinity  the same with a weight 1-100
--   topologySpread     {topologyKey, maxSkew >= 1, whenUnsatisfiable?: DoNotSchedule|ScheduleAnyway}
--   jobAffinity, jobAntiAffinity   {selector: string map, topologyKey}
--
-- Replaces check_constraints (0040: the new fields; tolerations through check_tolerations) and
-- check_labels (0040: taints through check_taints). New: check_taints, check_tolerations,
-- check_affinity_term.

create function omega.check_taints(p_list jsonb, p_field text) returns void
language plpgsql immutable as $$
declare
  t jsonb;
  i integer := 0;
begin
  if jsonb_typeof(p_list) is distinct from 'array' or jsonb_array_length(p_list) > 100 then
    raise exception using errcode = 'OM422', message = format('%s: an array of at most 100 {key, value?, effect?} objects is required', p_field);
  end if;
  for t in select value from jsonb_array_elements(p_list) loop
    if jsonb_typeof(t) is distinct from 'object'
       or exists (select from jsonb_object_keys(t) k where k not in ('key', 'value', 'effect'))
       or jsonb_typeof(t -> 'key') is distinct from 'string' then
      raise exception using errcode = 'OM422', message = format('%s.%s: an object {key, value?, effect?} is required', p_field, i);
    end if;
    perform omega.check_label_key(t ->> 'key', format('%s.%s.key', p_field, i));
    if t ? 'value' then
      perform omega.check_label_value(t -> 'value', format('%s.%s.value', p_field, i));
    end if;
    if t ? 'effect' and (jsonb_typeof(t -> 'effect') is distinct from 'string'
        or t ->> 'effect' not in ('NoSchedule', 'PreferNoSchedule', 'NoExecute')) then
      raise exception using errcode = 'OM422', message = format('%s.%s.effect: one of NoSchedule, PreferNoSchedule, NoExecute', p_field, i);
    end if;
    i := i + 1;
  end loop;
end $$;

create function omega.check_tolerations(p_list jsonb, p_field text) returns void
language plpgsql immutable as $$
declare
  t jsonb;
  i integer := 0;
  f text;
begin
  if jsonb_typeof(p_list) is distinct from 'array' or jsonb_array_length(p_list) > 100 then
    raise exception using errcode = 'OM422', message = format('%s: an array of at most 100 tolerations is required', p_field);
  end if;
  for t in select value from jsonb_array_elements(p_list) loop
    f := format('%s.%s', p_field, i);
    if jsonb_typeof(t) is distinct from 'object'
       or exists (select from jsonb_object_keys(t) k where k not in ('key', 'operator', 'value', 'effect', 'tolerationSeconds')) then
      raise exception using errcode = 'OM422', message = format('%s: an object {key?, operator?, value?, effect?, tolerationSeconds?} is required', f);
    end if;
    if t ? 'key' and t ->> 'key' is distinct from '' then
      if jsonb_typeof(t -> 'key') <> 'string' then
        raise exception using errcode = 'OM422', message = format('%s.key: a label name is required', f);
      end if;
      perform omega.check_label_key(t ->> 'key', f || '.key');
    end if;
    if t ? 'operator' and (jsonb_typeof(t -> 'operator') <> 'string' or t ->> 'operator' not in ('Equal', 'Exists')) then
      raise exception using errcode = 'OM422', message = format('%s.operator: Equal or Exists', f);
    end if;
    if t ? 'value' then
      perform omega.check_label_value(t -> 'value', f || '.value');
    end if;
    if t ? 'effect' and (jsonb_typeof(t -> 'effect') <> 'string'
        or t ->> 'effect' not in ('NoSchedule', 'PreferNoSchedule', 'NoExecute')) then
      raise exception using errcode = 'OM422', message = format('%s.effect: one of NoSchedule, PreferNoSchedule, NoExecute', f);
    end if;
    if t ? 'tolerationSeconds' and not omega.is_whole(t -> 'tolerationSeconds', -1000000000000, 1000000000000) then
      raise exception using errcode = 'OM422', message = format('%s.tolerationSeconds: a whole number of seconds is required', f);
    end if;
    -- Kubernetes' rules.
    if coalesce(t ->> 'key', '') = '' and t ->> 'operator' is distinct from 'Exists' then
      raise exception using errcode = 'OM422', message = format('%s.key: an empty key needs operator Exists', f);
    end if;
    if t ->> 'operator' = 'Exists' and coalesce(t ->> 'value', '') <> '' then
      raise exception using errcode = 'OM422', message = format('%s.value: operator Exists takes no value', f);
    end if;
    if t ? 'tolerationSeconds' and t ->> 'effect' is distinct from 'NoExecute' then
      raise exception using errcode = 'OM422', message = format('%s.tolerationSeconds: tolerationSeconds needs effect NoExecute', f);
    end if;
    i := i + 1;
  end loop;
end $$;

-- One node-affinity term; p_extra names the fields allowed beside key, operator, op, values.
create function omega.check_affinity_term(t jsonb, p_field text, p_extra text[] default '{}') returns void
language plpgsql immutable as $$
declare
  v_op text;
  n integer;
begin
  if jsonb_typeof(t) is distinct from 'object'
     or exists (select from jsonb_object_keys(t) tk where tk not in ('key', 'operator', 'op', 'values') and tk <> all (p_extra))
     or jsonb_typeof(t -> 'key') is distinct from 'string'
     or (t ? 'operator' and jsonb_typeof(t -> 'operator') <> 'string')
     or (t ? 'op' and jsonb_typeof(t -> 'op') <> 'string') then
    raise exception using errcode = 'OM422',
      message = format('%s: {key, operator: In|NotIn|Exists|DoesNotExist|Gt|Lt, values?: [string]} is required', p_field);
  end if;
  perform omega.check_label_key(t ->> 'key', p_field || '.key');
  if t ? 'operator' and t ? 'op' and t ->> 'operator' <> t ->> 'op' then
    raise exception using errcode = 'OM422', message = format('%s.op: op is an alias of operator: give one of them', p_field);
  end if;
  v_op := coalesce(t ->> 'operator', t ->> 'op');
  if v_op is null or v_op not in ('In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt') then
    raise exception using errcode = 'OM422', message = format('%s.operator: one of In, NotIn, Exists, DoesNotExist, Gt, Lt', p_field);
  end if;
  if t ? 'values' then
    if jsonb_typeof(t -> 'values') <> 'array' or jsonb_array_length(t -> 'values') > 100 then
      raise exception using errcode = 'OM422', message = format('%s.values: an array of at most 100 strings is required', p_field);
    end if;
    perform omega.check_label_value(v, p_field || '.values') from jsonb_array_elements(t -> 'values') v;
  end if;
  n := coalesce(jsonb_array_length(t -> 'values'), 0);
  -- In and NotIn with no values would match nothing, or everything: a job that waits forever.
  if v_op in ('In', 'NotIn') and n = 0 then
    raise exception using errcode = 'OM422', message = format('%s.values: %s needs a non-empty list of values', p_field, v_op);
  elsif v_op in ('Exists', 'DoesNotExist') and n > 0 then
    raise exception using errcode = 'OM422', message = format('%s.values: %s takes no values', p_field, v_op);
  elsif v_op in ('Gt', 'Lt') and (n <> 1 or omega.int64_of(t -> 'values' ->> 0) is null) then
    raise exception using errcode = 'OM422', message = format('%s.values: %s needs exactly one integer value', p_field, v_op);
  end if;
end $$;

-- A label value as Kubernetes' Gt/Lt read it (strconv.ParseInt base 10, 64 bits), or null.
create function omega.int64_of(v text) returns numeric
language sql immutable parallel safe as $$
  select case when v ~ '^[+-]?[0-9]{1,19}$' and v::numeric between -9223372036854775808 and 9223372036854775807
    then v::numeric end
$$;

-- {selector, topologyKey} terms of jobAffinity / jobAntiAffinity.
create function omega.check_job_affinity(p_list jsonb, p_field text) returns void
language plpgsql immutable as $$
declare
  t jsonb;
  i integer := 0;
begin
  if jsonb_typeof(p_list) is distinct from 'array' or jsonb_array_length(p_list) > 100 then
    raise exception using errcode = 'OM422', message = format('%s: an array of at most 100 {selector, topologyKey} terms is required', p_field);
  end if;
  for t in select value from jsonb_array_elements(p_list) loop
    if jsonb_typeof(t) is distinct from 'object'
       or exists (select from jsonb_object_keys(t) k where k not in ('selector', 'topologyKey'))
       or not (t ? 'selector') or jsonb_typeof(t -> 'topologyKey') is distinct from 'string' then
      raise exception using errcode = 'OM422', message = format('%s.%s: {selector, topologyKey} is required', p_field, i);
    end if;
    perform omega.check_label_map(t -> 'selector', format('%s.%s.selector', p_field, i));
    perform omega.check_label_key(t ->> 'topologyKey', format('%s.%s.topologyKey', p_field, i));
    i := i + 1;
  end loop;
end $$;

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
    if k not in ('selector', 'affinity', 'tolerations', 'maxPerMachine', 'spreadBy',
                 'preferredAffinity', 'topologySpread', 'jobAffinity', 'jobAntiAffinity') then
      raise exception using errcode = 'OM422', message = format('constraints: unknown field %L', k);
    end if;
  end loop;
  if c ? 'selector' then
    perform omega.check_label_map(c -> 'selector', 'constraints.selector');
  end if;
  if c ? 'affinity' then
    if jsonb_typeof(c -> 'affinity') <> 'array' or jsonb_array_length(c -> 'affinity') > 100 then
      raise exception using errcode = 'OM422', message = 'constraints.affinity: an array of at most 100 {key, operator, values?} terms is required';
    end if;
    for t in select value from jsonb_array_elements(c -> 'affinity') loop
      perform omega.check_affinity_term(t, format('constraints.affinity.%s', i));
      i := i + 1;
    end loop;
  end if;
  if c ? 'preferredAffinity' then
    if jsonb_typeof(c -> 'preferredAffinity') <> 'array' or jsonb_array_length(c -> 'preferredAffinity') > 100 then
      raise exception using errcode = 'OM422', message = 'constraints.preferredAffinity: an array of at most 100 {weight, key, operator, values?} terms is required';
    end if;
    i := 0;
    for t in select value from jsonb_array_elements(c -> 'preferredAffinity') loop
      perform omega.check_affinity_term(t, format('constraints.preferredAffinity.%s', i), '{weight}');
      if omega.is_whole(t -> 'weight', 1, 100) is not true then
        raise exception using errcode = 'OM422', message = format('constraints.preferredAffinity.%s.weight: a whole number from 1 to 100 is required', i);
      end if;
      i := i + 1;
    end loop;
  end if;
  if c ? 'tolerations' then
    perform omega.check_tolerations(c -> 'tolerations', 'constraints.tolerations');
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
  if c ? 'topologySpread' then
    if jsonb_typeof(c -> 'topologySpread') <> 'array' or jsonb_array_length(c -> 'topologySpread') > 100 then
      raise exception using errcode = 'OM422', message = 'constraints.topologySpread: an array of at most 100 {topologyKey, maxSkew, whenUnsatisfiable?} is required';
    end if;
    i := 0;
    for t in select value from jsonb_array_elements(c -> 'topologySpread') loop
      if jsonb_typeof(t) is distinct from 'object'
         or exists (select from jsonb_object_keys(t) tk where tk not in ('topologyKey', 'maxSkew', 'whenUnsatisfiable'))
         or jsonb_typeof(t -> 'topologyKey') is distinct from 'string' then
        raise exception using errcode = 'OM422', message = format('constraints.topologySpread.%s: {topologyKey, maxSkew, whenUnsatisfiable?} is required', i);
      end if;
      perform omega.check_label_key(t ->> 'topologyKey', format('constraints.topologySpread.%s.topologyKey', i));
      if omega.is_whole(t -> 'maxSkew', 1, 100000) is not true then
        raise exception using errcode = 'OM422', message = format('constraints.topologySpread.%s.maxSkew: a whole number from 1 to 100000 is required', i);
      end if;
      if t ? 'whenUnsatisfiable' and (jsonb_typeof(t -> 'whenUnsatisfiable') <> 'string'
          or t ->> 'whenUnsatisfiable' not in ('DoNotSchedule', 'ScheduleAnyway')) then
        raise exception using errcode = 'OM422', message = format('constraints.topologySpread.%s.whenUnsatisfiable: DoNotSchedule or ScheduleAnyway', i);
      end if;
      i := i + 1;
    end loop;
  end if;
  if c ? 'jobAffinity' then
    perform omega.check_job_affinity(c -> 'jobAffinity', 'constraints.jobAffinity');
  end if;
  if c ? 'jobAntiAffinity' then
    perform omega.check_job_affinity(c -> 'jobAntiAffinity', 'constraints.jobAntiAffinity');
  end if;
end $$;

create or replace function omega.check_labels(p_labels jsonb, p_taints jsonb) returns void
language plpgsql immutable as $$
begin
  perform omega.check_label_map(p_labels, 'labels');
  perform omega.check_taints(p_taints, 'taints');
end $$;
