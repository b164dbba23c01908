-- Quotas: a resource vector per (tenant, cell, band). Usage lives on the quota row and is kept by a
-- trigger on claims, so the row's CHECK (used ≤ limit) holds whatever code writes claims; the
-- commit procedure checks quotas per placement first, so that a placement over quota is rejected
-- with a reason instead of failing the whole plan on that CHECK.

-- One statement's new or removed claims, summed per quota row they count against. Best-effort
-- claims match no row (quotas exist for the batch and production bands only).
create function omega.claims_count_against_quotas() returns trigger
language plpgsql as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
begin
  update omega.quotas q
  set used_cpu = q.used_cpu + sign * d.cpu, used_memory = q.used_memory + sign * d.memory,
      used_gpu = q.used_gpu + sign * d.gpu, used_disk = q.used_disk + sign * d.disk
  from (select c.cell, c.tenant_id, omega.band(c.priority) as band,
               sum(c.cpu) as cpu, sum(c.memory) as memory, sum(c.gpu) as gpu, sum(c.disk) as disk
        from changed c group by 1, 2, 3) d
  where q.cell = d.cell and q.tenant_id = d.tenant_id and q.band = d.band;
  return null;
end $$;

create trigger claims_quota_insert after insert on omega.claims
  referencing new table as changed
  for each statement execute function omega.claims_count_against_quotas();
create trigger claims_quota_delete after delete on omega.claims
  referencing old table as changed
  for each statement execute function omega.claims_count_against_quotas();
-- A claim's tenant, priority and resources never change; refuse updates that would skew usage.
create function omega.claims_are_immutable() returns trigger
language plpgsql as $$
begin
  if (new.tenant_id, new.priority, new.cpu, new.memory, new.gpu, new.disk, new.job_id, new.machine_id)
     is distinct from
     (old.tenant_id, old.priority, old.cpu, old.memory, old.gpu, old.disk, old.job_id, old.machine_id) then
    raise exception using errcode = 'OM409', message = 'claims are immutable: release and place again';
  end if;
  return new;
end $$;
create trigger claims_immutable before update on omega.claims
  for each row execute function omega.claims_are_immutable();

-- Setting a quota and committing claims exclude each other per cell through this advisory lock
-- (commits take it shared, so they never wait for each other): a new quota row's usage is read
-- while no claim of the cell can appear.
create function omega.quota_lock_key(p_cell text) returns bigint
language sql immutable parallel safe as $$
  select hashtextextended('omega.quotas:' || p_cell, 0)
$$;

-- Sets the limit of (tenant, cell, band). A limit below current usage is refused (409): invariant
-- 3 holds on every row, and cancelling work is the user's decision, not ours. A raised limit may
-- unblock waiting work, so the cell's parked jobs are woken.
create function omega.put_quota(p_tenant text, p_cell text, p_band text, p_resources jsonb)
returns table (created boolean, cpu bigint, memory bigint, gpu bigint, disk bigint,
               used_cpu bigint, used_memory bigint, used_gpu bigint, used_disk bigint)
language plpgsql as $$
#variable_conflict use_column
declare
  v_tenant bigint;
  lim record;
  use record;
  v_created boolean;
begin
  if p_band not in ('batch', 'production') then
    raise exception using errcode = 'OM422',
      message = format('quotas are set for the batch and production bands, not %L', p_band);
  end if;
  select id into v_tenant from omega.tenants where name = p_tenant;
  if v_tenant is null then
    raise exception using errcode = 'OM404', message = format('tenant "%s" does not exist', p_tenant);
  end if;
  if not exists (select from omega.cells where name = p_cell) then
    raise exception using errcode = 'OM404', message = format('cell "%s" does not exist', p_cell);
  end if;
  perform omega.check_resources(p_resources);
  -- A dimension left out is not limited.
  select case when p_resources ? 'cpu' then omega.parse_quantity(p_resources -> 'cpu', 'cpu') else 1000000000000 end as cpu,
         case when p_resources ? 'memory' then omega.parse_quantity(p_resources -> 'memory', 'memory') else 1000000000000 end as memory,
         case when p_resources ? 'gpu' then omega.parse_quantity(p_resources -> 'gpu', 'gpu') else 1000000000000 end as gpu,
         case when p_resources ? 'disk' then omega.parse_quantity(p_resources -> 'disk', 'disk') else 1000000000000 end as disk
    into lim;
  perform pg_advisory_xact_lock(omega.quota_lock_key(p_cell));
  select coalesce(sum(c.cpu), 0) as cpu, coalesce(sum(c.memory), 0) as memory,
         coalesce(sum(c.gpu), 0) as gpu, coalesce(sum(c.disk), 0) as disk
    into use
  from omega.claims c
  where c.cell = p_cell and c.tenant_id = v_tenant and omega.band(c.priority) = p_band;
  if use.cpu > lim.cpu or use.memory > lim.memory or use.gpu > lim.gpu or use.disk > lim.disk then
    raise exception using errcode = 'OM409',
      message = format('the quota is below what %s''s %s claims in %s already use '
        '(cpu %s, memory %s, gpu %s, disk %s); cancel work first or set a higher limit',
        p_tenant, p_band, p_cell, use.cpu, use.memory, use.gpu, use.disk);
  end if;
  insert into omega.quotas as q (cell, tenant_id, band, cpu, memory, gpu, disk, used_cpu, used_memory, used_gpu, used_disk)
  values (p_cell, v_tenant, p_band, lim.cpu, lim.memory, lim.gpu, lim.disk, use.cpu, use.memory, use.gpu, use.disk)
  on conflict (cell, tenant_id, band) do update
    set cpu = excluded.cpu, memory = excluded.memory, gpu = excluded.gpu, disk = excluded.disk,
        used_cpu = excluded.used_cpu, used_memory = excluded.used_memory,
        used_gpu = excluded.used_gpu, used_disk = excluded.used_disk
  returning (xmax = 0) into v_created;
  perform omega.capacity_freed(p_cell);
  return query select v_created, lim.cpu::bigint, lim.memory::bigint, lim.gpu::bigint, lim.disk::bigint,
    use.cpu::bigint, use.memory::bigint, use.gpu::bigint, use.disk::bigint;
end $$;

-- Admission: a job none of whose tasks could ever run under its quota (one task, or a gang's
-- minAvailable, asks for more than the limit) is refused now rather than left waiting forever.
-- Work that fits the limit but not what is free of it is accepted and waits.
create function omega.check_admission(p_cell text, p_tenant bigint, p_priority integer,
  p_cpu bigint, p_memory bigint, p_gpu bigint, p_disk bigint, p_at_once integer) returns void
language plpgsql stable as $$
declare
  q omega.quotas;
  dims text[];
begin
  select * into q from omega.quotas
  where cell = p_cell and tenant_id = p_tenant and band = omega.band(p_priority);
  if not found then return; end if;
  dims := array_remove(array[
    case when p_cpu * p_at_once > q.cpu then format('cpu %s > %s', p_cpu * p_at_once, q.cpu) end,
    case when p_memory * p_at_once > q.memory then format('memory %s > %s', p_memory * p_at_once, q.memory) end,
    case when p_gpu * p_at_once > q.gpu then format('gpu %s > %s', p_gpu * p_at_once, q.gpu) end,
    case when p_disk * p_at_once > q.disk then format('disk %s > %s', p_disk * p_at_once, q.disk) end], null);
  if cardinality(dims) > 0 then
    raise exception using errcode = 'OM422',
      message = format('the job can never run within its %s quota in cell %s: %s %s',
        q.band, p_cell, case when p_at_once > 1 then format('its gang of %s asks for', p_at_once)
                             else 'one task asks for' end, array_to_string(dims, ', '));
  end if;
end $$;
