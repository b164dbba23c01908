-- Dominant-resource fair share (issue 15, SPEC "Sharing"): a tenant's share of a cell is its
-- largest fraction of the cell's capacity over cpu, memory and gpu (DRF, as Mesos' allocator and
-- YARN's fair scheduler compute it), divided by its weight. Leasing serves the lowest share first
-- within a priority (0141_lease_work.sql), so the inputs of a share are rows kept where claims and
-- machines are written, never sums over claims on the hot path:
--
--   omega.tenant_usage    what a tenant's claims hold in a cell, kept by a statement trigger on
--                         claims beside the quota one (0007). Split into 16 shards by backend, so
--                         that two workers committing the same tenant's work do not queue on one
--                         row until their commits are durable (a tenant with a quota already
--                         queues on its quota row; one without must not start to). A share sums
--                         its tenant's ≤ 16 rows.
--   omega.cell_capacity   the capacity of a cell's up machines, kept by a row trigger on machines
--                         that fires only when capacity or state changes (not on every claim).

alter table omega.tenants
  -- Its weight in fair sharing: a tenant of weight 2 is served as if its share were half of what
  -- it is. (Default: 1.)
  add column weight double precision not null default 1 check (weight >= 0.001 and weight <= 1000);
grant select (weight) on omega.tenants to omega_scheduler, omega_reader;

create table omega.tenant_usage (
  cell omega.name not null references omega.cells (name),
  tenant_id bigint not null references omega.tenants (id),
  shard smallint not null check (shard between 0 and 15),
  -- A shard may go below zero (a claim placed by one backend, released by another); the sum of a
  -- tenant's shards is what its claims hold.
  cpu bigint not null default 0,
  memory bigint not null default 0,
  gpu bigint not null default 0,
  disk bigint not null default 0,
  tasks bigint not null default 0,
  primary key (cell, tenant_id, shard)
);

create table omega.cell_capacity (
  cell omega.name primary key references omega.cells (name),
  cpu bigint not null default 0,
  memory bigint not null default 0,
  gpu bigint not null default 0,
  disk bigint not null default 0
);

-- One statement's new or removed claims, added to (or taken from) this backend's shard of each
-- tenant's usage. Rows are written in (cell, tenant) order, the order every writer locks them in.
create function omega.claims_count_against_shares() returns trigger
language plpgsql as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
begin
  insert into omega.tenant_usage as u (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
  select c.cell, c.tenant_id, pg_backend_pid() % 16,
    sign * sum(c.cpu), sign * sum(c.memory), sign * sum(c.gpu), sign * sum(c.disk), sign * count(*)
  from changed c group by c.cell, c.tenant_id order by c.cell, c.tenant_id
  on conflict (cell, tenant_id, shard) do update
    set cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory, gpu = u.gpu + excluded.gpu,
        disk = u.disk + excluded.disk, tasks = u.tasks + excluded.tasks;
  return null;
end $$;

create trigger claims_share_insert after insert on omega.claims
  referencing new table as changed
  for each statement execute function omega.claims_count_against_shares();
create trigger claims_share_delete after delete on omega.claims
  referencing old table as changed
  for each statement execute function omega.claims_count_against_shares();

-- A machine's part of its cell's capacity: its resources while it is up.
create function omega.machine_counts_in_capacity() returns trigger
language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.state = 'up' then
    update omega.cell_capacity set cpu = cpu - old.cpu, memory = memory - old.memory, gpu = gpu - old.gpu,
      disk = disk - old.disk
    where cell = old.cell;
  end if;
  if tg_op in ('UPDATE', 'INSERT') and new.state = 'up' then
    insert into omega.cell_capacity as k (cell, cpu, memory, gpu, disk)
    values (new.cell, new.cpu, new.memory, new.gpu, new.disk)
    on conflict (cell) do update
      set cpu = k.cpu + excluded.cpu, memory = k.memory + excluded.memory, gpu = k.gpu + excluded.gpu,
          disk = k.disk + excluded.disk;
  end if;
  return null;
end $$;

create trigger machines_capacity_insert after insert on omega.machines
  for each row execute function omega.machine_counts_in_capacity();
create trigger machines_capacity_delete after delete on omega.machines
  for each row execute function omega.machine_counts_in_capacity();
-- Not on the updates every commit makes (used_*, tasks): only capacity and state count.
create trigger machines_capacity_update after update of cpu, memory, gpu, disk, state on omega.machines
  for each row
  when ((old.cpu, old.memory, old.gpu, old.disk, old.state) is distinct from (new.cpu, new.memory, new.gpu, new.disk, new.state))
  execute function omega.machine_counts_in_capacity();

insert into omega.cell_capacity (cell, cpu, memory, gpu, disk)
select c.name, coalesce(sum(m.cpu) filter (where m.state = 'up'), 0), coalesce(sum(m.memory) filter (where m.state = 'up'), 0),
  coalesce(sum(m.gpu) filter (where m.state = 'up'), 0), coalesce(sum(m.disk) filter (where m.state = 'up'), 0)
from omega.cells c left join omega.machines m on m.cell = c.name
group by c.name;

insert into omega.tenant_usage (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
select cell, tenant_id, 0, sum(cpu), sum(memory), sum(gpu), sum(disk), count(*)
from omega.claims group by cell, tenant_id;

-- The weighted dominant share of usage `u*` in a cell of capacity `k*`: the largest fraction over
-- cpu, memory and gpu (a dimension the cell has none of counts for nothing), over the weight.
-- (Disk is not a dominant resource, as in SPEC: it rarely is the scarce one and would let a
-- tenant of small disk-heavy tasks look large.)
create function omega.weighted_share(u_cpu numeric, u_memory numeric, u_gpu numeric,
  k_cpu numeric, k_memory numeric, k_gpu numeric, weight double precision)
returns double precision
language sql immutable parallel safe as $$
  select greatest(coalesce(u_cpu / nullif(k_cpu, 0), 0), coalesce(u_memory / nullif(k_memory, 0), 0),
                  coalesce(u_gpu / nullif(k_gpu, 0), 0))::double precision / weight
$$;

-- One row per (cell, tenant) holding claims there or ever having held them.
create view omega.tenant_shares as
select u.cell, tn.name as tenant, tn.weight,
  u.cpu as used_cpu, u.memory as used_memory, u.gpu as used_gpu, u.disk as used_disk, u.tasks,
  coalesce(u.cpu::double precision / nullif(k.cpu, 0), 0) as cpu_share,
  coalesce(u.memory::double precision / nullif(k.memory, 0), 0) as memory_share,
  coalesce(u.gpu::double precision / nullif(k.gpu, 0), 0) as gpu_share,
  omega.weighted_share(u.cpu, u.memory, u.gpu, k.cpu, k.memory, k.gpu, 1) as dominant_share,
  omega.weighted_share(u.cpu, u.memory, u.gpu, k.cpu, k.memory, k.gpu, tn.weight) as weighted_share
from (select cell, tenant_id, sum(cpu)::bigint as cpu, sum(memory)::bigint as memory, sum(gpu)::bigint as gpu,
             sum(disk)::bigint as disk, sum(tasks)::bigint as tasks
      from omega.tenant_usage group by cell, tenant_id) u
join omega.tenants tn on tn.id = u.tenant_id
left join omega.cell_capacity k on k.cell = u.cell;

-- Sets a tenant's weight (PUT /v1/tenants/:name {weight}).
create function omega.set_tenant_weight(p_tenant text, p_weight double precision)
returns table (tenant text, weight double precision)
language plpgsql as $$
#variable_conflict use_column
begin
  if p_weight is null or p_weight < 0.001 or p_weight > 1000 or p_weight = 'NaN'::double precision then
    raise exception using errcode = 'OM422', message = 'weight: a number from 0.001 to 1000 is required';
  end if;
  return query update omega.tenants t set weight = p_weight where t.name = p_tenant returning t.name::text, t.weight;
  if not found then
    raise exception using errcode = 'OM404', message = format('tenant "%s" does not exist', p_tenant);
  end if;
end $$;
call omega.grant_entry_point('set_tenant_weight', '{omega_api}');
