-- Pure rules shared by the procedures: priority bands, quantities, placement constraints, wake-ups.

-- Custom SQLSTATEs (mapped to HTTP statuses in src/db/errors.ts):
--   OM422 invalid request    OM404 not found    OM409 conflict with current state

create function omega.band(priority integer) returns text
language sql immutable parallel safe as $$
  select case when priority < 100 then 'best-effort' when priority < 200 then 'batch' else 'production' end
$$;

-- Numbers are base units (cpu millicores, memory/disk MiB, gpu devices); strings are Kubernetes
-- quantities ("500m", "2", "512Mi", "4Gi"), rounded up to the base unit as Kubernetes does.
create function omega.parse_quantity(v jsonb, dimension text) returns bigint
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

-- A resources object names only known dimensions (their values are checked by parse_quantity).
create function omega.check_resources(p_resources jsonb) returns void
language plpgsql immutable as $$
declare
  k text;
begin
  if jsonb_typeof(p_resources) is distinct from 'object' then
    raise exception using errcode = 'OM422', message = 'resources: an object is required';
  end if;
  for k in select jsonb_object_keys(p_resources) loop
    if k not in ('cpu', 'memory', 'gpu', 'disk') then
      raise exception using errcode = 'OM422', message = format('resources: unknown resource %L', k);
    end if;
  end loop;
end $$;

-- Node affinity terms, all of which must hold: {key, op: In|NotIn|Exists|DoesNotExist, values}.
create function omega.affinity_matches(labels jsonb, affinity jsonb) returns boolean
language sql immutable parallel safe as $$
  select coalesce(bool_and(case t ->> 'op'
      when 'In' then coalesce((t -> 'values') ? (labels ->> (t ->> 'key')), false)
      when 'NotIn' then not coalesce((t -> 'values') ? (labels ->> (t ->> 'key')), false)
      when 'Exists' then labels ? (t ->> 'key')
      when 'DoesNotExist' then not (labels ? (t ->> 'key'))
      else false end), true)
  from jsonb_array_elements(affinity) t
$$;

-- Every taint {key, value?} of the machine must be tolerated: same key, and the same value unless
-- the toleration names none (then it tolerates every value of that key).
create function omega.tolerates(taints jsonb, tolerations jsonb) returns boolean
language sql immutable parallel safe as $$
  select not exists (
    select from jsonb_array_elements(taints) taint
    where not exists (
      select from jsonb_array_elements(tolerations) tol
      where tol ->> 'key' = taint ->> 'key'
        and (not (tol ? 'value') or tol -> 'value' = coalesce(taint -> 'value', 'null'::jsonb))))
$$;

create function omega.constraints_match(labels jsonb, taints jsonb, selector jsonb, affinity jsonb, tolerations jsonb)
returns boolean language sql immutable parallel safe as $$
  select labels @> selector
    and (affinity = '[]'::jsonb or omega.affinity_matches(labels, affinity))
    and (taints = '[]'::jsonb or omega.tolerates(taints, tolerations))
$$;

-- Wake the scheduler for a cell. The job key coalesces wake-ups that are still queued, so a burst
-- of submissions costs a few queued wake-ups; a wake-up queued while one runs makes a second worker
-- join in, which is how work spreads over workers. The key is one of 8 per (cell, scheduler), by
-- session: add_job upserts the key's row and holds it locked until the transaction has committed
-- and flushed, so one key per cell let concurrent submissions through one commit flush at a time
-- (the latency bench: p99 of seconds at 200 jobs/s). A session's own transactions never contend.
create function omega.wake(p_cell text, p_scheduler text) returns void
language sql as $$
  select graphile_worker.add_job(
    -- One task identifier per scheduler: a worker only takes the wake-ups of its own scheduler.
    'schedule:' || p_scheduler,
    json_build_object('cell', p_cell, 'scheduler', p_scheduler),
    job_key => format('schedule:%s:%s:%s', p_cell, p_scheduler, pg_backend_pid() % 8),
    job_key_mode => 'preserve_run_at',
    max_attempts => 25);
$$;

-- Capacity appeared in a cell: bump its epoch, unpark its blocked jobs and wake their schedulers.
-- The epoch bump comes first: it takes the cell row lock, so a park_job that already checked the
-- epoch has committed (and its job is unparked here), and one that has not yet will see the new
-- epoch and not park. Jobs locked by someone else (being cancelled) are skipped, never waited for.
create function omega.capacity_freed(p_cell text) returns void
language plpgsql as $$
declare
  s text;
begin
  update omega.cells set capacity_epoch = capacity_epoch + 1 where name = p_cell;
  for s in
    with unblocked as (
      update omega.jobs j set blocked = false
      from (select id from omega.jobs
            where cell = p_cell and blocked and state = 'pending'
            for update skip locked) b
      where j.cell = p_cell and j.id = b.id
      returning j.scheduler)
    select distinct scheduler from unblocked
  loop
    perform omega.wake(p_cell, s);
  end loop;
end $$;
