-- The capacity question counts the per-machine task cap too (issue 17): a machine holding its
-- max_tasks takes no further task, however small. Otherwise as 0008_capacity.sql.

create or replace function omega.how_many_fit(p_cell text, p_resources jsonb, p_constraints jsonb default '{}')
returns table (machine text, fits bigint)
language plpgsql stable as $$
declare
  v_con jsonb := coalesce(p_constraints, '{}');
  v_cpu bigint;
  v_memory bigint;
  v_gpu bigint;
  v_disk bigint;
  v_max bigint;
begin
  if not exists (select from omega.cells where name = p_cell) then
    raise exception using errcode = 'OM404', message = format('cell %L does not exist', p_cell);
  end if;
  perform omega.check_resources(p_resources);
  v_cpu := omega.parse_quantity(p_resources -> 'cpu', 'cpu');
  v_memory := omega.parse_quantity(p_resources -> 'memory', 'memory');
  v_gpu := omega.parse_quantity(p_resources -> 'gpu', 'gpu');
  v_disk := omega.parse_quantity(p_resources -> 'disk', 'disk');
  if v_cpu + v_memory + v_gpu + v_disk = 0 then
    -- An empty shape fits without bound: there is no number to answer.
    raise exception using errcode = 'OM422', message = 'resources: at least one of cpu, memory, gpu, disk must be above zero';
  end if;
  -- The constraints of a job spec, checked as submit_job checks them; spreadBy is accepted (a job
  -- spec can be passed as is) but does not limit where tasks fit.
  perform omega.check_constraints(v_con);
  v_max := (v_con ->> 'maxPerMachine')::bigint;

  return query
  select m.name, case
      when not omega.constraints_match(m.labels, m.taints, coalesce(v_con -> 'selector', '{}'),
        coalesce(v_con -> 'affinity', '[]'), coalesce(v_con -> 'tolerations', '[]')) then 0::bigint
      -- least() skips nulls: a dimension the shape does not request does not limit.
      else least(
        case when v_cpu > 0 then (m.cpu - m.used_cpu) / v_cpu end,
        case when v_memory > 0 then (m.memory - m.used_memory) / v_memory end,
        case when v_gpu > 0 then (m.gpu - m.used_gpu) / v_gpu end,
        case when v_disk > 0 then (m.disk - m.used_disk) / v_disk end,
        v_max,
        greatest(m.max_tasks - m.tasks, 0)::bigint)
    end
  from omega.machines m
  where m.cell = p_cell and m.state = 'up'
  order by m.name;
end $$;
