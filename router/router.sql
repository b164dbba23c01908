-- The PL/Proxy router database: the SQL entry points of omega for every cell, whichever partition
-- (PostgreSQL server) owns it, and cluster-wide reports merged over all partitions. Holds no
-- scheduling state of its own: the cell directory (which partition owns each cell) and the
-- sequence of tenant ids. Applied by `omega migrate --router`, after the SQL/MED server
-- `omega_partitions` (one option p0…pN-1 per partition, a power of two) has been (re)created.
-- Idempotent: every object is created if missing or replaced.

create extension if not exists plproxy;
create schema if not exists omega;
create schema if not exists omega_router;

-- The cell directory. A cell not listed lives on partition hashtext(cell) mod N — PL/Proxy's
-- default — so listing cells is only needed to place them deliberately or to move one.
create table if not exists omega_router.cells (
  cell text primary key,
  partition integer not null check (partition >= 0),
  -- Set while the cell moves to another partition (src/router/move-cell.ts): its calls are refused.
  moving boolean not null default false
);

-- Tenant ids given by the router, the same on every partition; far above a partition's own
-- identity values so that the two never meet.
create sequence if not exists omega_router.tenant_ids start with 1000000000;

-- PL/Proxy masks this with N-1: a directory entry 0…N-1 is the partition itself. A moving cell is
-- refused with OM503 (retry: a submission retried with its client token is still one job).
create or replace function omega_router.partition_of(p_cell text) returns integer
language plpgsql stable as $$
declare
  d omega_router.cells;
begin
  select * into d from omega_router.cells where cell = p_cell;
  if d.moving then
    raise exception using errcode = 'OM503', message = format('cell %L is moving to another partition; retry', p_cell);
  end if;
  return coalesce(d.partition, hashtext(p_cell));
end $$;

-- Entry points, run on the cell's partition ---------------------------------------------------------

create or replace function omega.submit_job(p_tenant text, p_spec jsonb, p_client_token text) returns bigint
language plproxy as $$
  cluster 'omega_partitions';
  run on omega_router.partition_of(p_spec ->> 'cell');
$$;

create or replace function omega.submit_job(p_tenant text, p_spec jsonb) returns bigint
language plproxy as $$
  cluster 'omega_partitions';
  run on omega_router.partition_of(p_spec ->> 'cell');
$$;

-- A job id is unique within its partition only: the router needs the job's cell to find it.
create or replace function omega.cancel_job(p_cell text, p_job_id bigint, p_tenant text default null)
returns text
language plproxy as $$
  cluster 'omega_partitions';
  run on omega_router.partition_of(p_cell);
  select omega.cancel_job(p_job_id, p_tenant);
$$;

create or replace function omega.how_many_fit(p_cell text, p_resources jsonb, p_constraints jsonb default '{}')
returns table (machine text, fits bigint)
language plproxy as $$
  cluster 'omega_partitions';
  run on omega_router.partition_of(p_cell);
$$;

create or replace function omega_router.create_cell_on(p_name text) returns text
language plproxy as $$
  cluster 'omega_partitions';
  run on omega_router.partition_of(p_name);
  select (omega.create_cell(p_name)).name::text;
$$;

-- Creates a cell on `p_partition` (recorded in the directory), or where its name hashes to.
create or replace function omega.create_cell(p_name text, p_partition integer default null) returns text
language plpgsql as $$
begin
  if p_partition is not null then
    insert into omega_router.cells (cell, partition) values (p_name, p_partition)
    on conflict (cell) do update set partition = excluded.partition;
  end if;
  return omega_router.create_cell_on(p_name);
end $$;

-- Tenants: written to every partition ---------------------------------------------------------------

create or replace function omega_router.replicate_tenant(p_id bigint, p_name text, p_token_hash bytea)
returns setof bigint
language plproxy as $$
  cluster 'omega_partitions';
  run on all;
  select omega.replicate_tenant(p_id, p_name, p_token_hash);
$$;

-- A new tenant with the SHA-256 of its token, on every partition at once (one id everywhere). If a
-- partition is down the call fails and nothing is acknowledged; calling it again is safe.
create or replace function omega.create_tenant(p_name text, p_token_hash bytea) returns bigint
language plpgsql as $$
declare
  v_id bigint := nextval('omega_router.tenant_ids');
begin
  perform omega_router.replicate_tenant(v_id, p_name, p_token_hash);
  return v_id;
end $$;

-- Reports, over all partitions ------------------------------------------------------------------

create or replace function omega.cell_usage()
returns table (cell text, machines_up integer, capacity_cpu bigint, used_cpu bigint, capacity_memory bigint,
  used_memory bigint, jobs_unfinished bigint, tasks_pending bigint)
language plproxy as $$
  cluster 'omega_partitions';
  run on all;
  select cell::text, machines_up, capacity_cpu, used_cpu, capacity_memory, used_memory, jobs_unfinished,
    tasks_pending from omega.cell_usage;
$$;

-- Each partition's omega.scheduler_stats with what merging needs (plans that committed something).
create or replace function omega_router.scheduler_stats_by_partition()
returns table (scheduler text, plans bigint, placements_attempted bigint, placements_committed bigint,
  conflicts bigint, plans_committing bigint, placements_rejected bigint, avg_commit_ms double precision)
language plproxy as $$
  cluster 'omega_partitions';
  run on all;
  select s.scheduler::text, s.plans, s.placements_attempted, s.placements_committed, s.conflicts,
    (select count(*) from omega.plans p where p.scheduler = s.scheduler and p.committed > 0) as plans_committing,
    s.placements_rejected, s.avg_commit_ms::double precision
  from omega.scheduler_stats s;
$$;

-- omega.scheduler_stats over the whole cluster: the same columns, merged per scheduler.
create or replace function omega.scheduler_stats()
returns table (scheduler text, plans bigint, placements_attempted bigint, placements_committed bigint,
  conflicts bigint, conflict_fraction double precision, placements_rejected bigint, avg_commit_ms double precision)
language sql as $$
  select s.scheduler, sum(s.plans)::bigint, sum(s.placements_attempted)::bigint,
    sum(s.placements_committed)::bigint, sum(s.conflicts)::bigint,
    coalesce(sum(s.conflicts)::double precision / nullif(sum(s.plans_committing), 0), 0),
    sum(s.placements_rejected)::bigint,
    coalesce(sum(s.avg_commit_ms * s.plans) / nullif(sum(s.plans), 0), 0)
  from omega_router.scheduler_stats_by_partition() s
  group by s.scheduler
$$;
