-- Cells spread over several PostgreSQL servers ("partitions"), each an ordinary omega database
-- owning some cells, with a PL/Proxy router database in front (router/router.sql). Nothing on the
-- hot path changes: every hot-path transaction already touches one cell, so it runs where its cell
-- lives. What a partition needs besides is below: a way for the router to replicate tenants, and a
-- per-cell report the router can merge over all partitions.

-- Tenants are global: the router gives each one id (from its own sequence, far above what a
-- partition's identity column hands out) and calls this on every partition, so that a tenant's
-- token works in every cell at once and its id means the same tenant everywhere (a cell moved
-- between partitions keeps its jobs' tenant ids). Idempotent: the router may send it again.
create function omega.replicate_tenant(p_id bigint, p_name text, p_token_hash bytea) returns bigint
language sql as $$
  insert into omega.tenants (id, name, token_hash) overriding system value
  values (p_id, p_name, p_token_hash)
  on conflict (id) do update set name = excluded.name, token_hash = excluded.token_hash
  returning id
$$;
revoke all on function omega.replicate_tenant(bigint, text, bytea) from public;

-- One row per cell: its capacity and use, and the work not yet finished. A report: the router runs
-- it on every partition and returns the union (no cross-cell join here, so each row is one cell's).
create view omega.cell_usage as
select c.name as cell,
  count(m.id) filter (where m.state = 'up')::integer as machines_up,
  coalesce(sum(m.cpu) filter (where m.state = 'up'), 0)::bigint as capacity_cpu,
  coalesce(sum(m.used_cpu), 0)::bigint as used_cpu,
  coalesce(sum(m.memory) filter (where m.state = 'up'), 0)::bigint as capacity_memory,
  coalesce(sum(m.used_memory), 0)::bigint as used_memory,
  (select count(*) from omega.jobs j
   where j.cell = c.name and j.state not in ('succeeded', 'failed', 'cancelled'))::bigint as jobs_unfinished,
  (select count(*) from omega.tasks t where t.cell = c.name and t.state = 'pending')::bigint as tasks_pending
from omega.cells c
left join omega.machines m on m.cell = c.name
group by c.name;
