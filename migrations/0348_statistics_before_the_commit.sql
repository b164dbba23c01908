-- A commit first brings the statistics of the tables it reads by key up to date if they have
-- outgrown them (session 28).
--
-- Every index of a table analyzed while empty (a fresh install put through ANALYZE or `vacuumdb -z`,
-- a cell emptied and vacuumed) costs the planner the same: a lookup `cell = $1 and id = $2` can be
-- planned through any index that starts with the cell, reading the whole cell and filtering the key.
-- Harmless while the table is small, but a generic plan is kept until the table is analyzed again,
-- and refresh_statistics (0311) waits for a table to grow fourfold from 50 rows — a second or more
-- after a big job arrives, and then only for the commits that start after it. The commit that
-- arrived first was run with the old plan: 3 placements fetched 210,042 task rows after 30,000 tasks
-- arrived at once (test/db/statistics.test.ts); in the throughput bench, a commit of ~460
-- placements ran for 66 s (session 27).
--
-- So the commit's first step asks whether one of those tables holds four times the pages (from
-- eight up) its statistics were taken at — a read of pg_class and the files' sizes, no table scan —
-- and analyzes it then, before any of its statements is planned: the analyze invalidates this
-- session's plans at once and the others' when it commits. Until then the other commits wait: the
-- sizes an analyze writes to pg_class are seen at once (they are written in place), so a commit that
-- found nothing outgrown could otherwise start with its old plans before the invalidation arrives.
-- The analyzing commit holds an advisory lock exclusively, every other commit shares it from its
-- first step on (before any row lock, so the waits cannot form a cycle); two commits that both find
-- a table outgrown analyze it once, the second finding the sizes the first wrote. Once a table has statistics taken with rows in
-- it, growth no longer changes these plans (the cell's share of the rows grows with it); what
-- refresh_statistics keeps doing is the shape of a growing or churning table.

create function omega.outgrown_statistics() returns setof text
language sql stable as $$
  select c.relname::text from pg_catalog.pg_class c
  where c.oid in ('omega.tasks'::regclass, 'omega.jobs'::regclass, 'omega.claims'::regclass,
                  'omega.machines'::regclass)
    and pg_catalog.pg_relation_size(c.oid) > 4 * 8192 * greatest(c.relpages, 8)::bigint
$$;

-- Held exclusively by a commit that analyzes, shared by every other commit from its first step on.
create function omega.statistics_lock_key() returns bigint
language sql immutable as $$ select pg_catalog.hashtext('omega.analyze_outgrown')::bigint $$;

create function omega.analyze_outgrown() returns text[]
language plpgsql as $$
declare
  t record;
  analyzed text[] := '{}';
begin
  perform pg_catalog.pg_advisory_xact_lock(omega.statistics_lock_key());
  for t in select s.relname from omega.outgrown_statistics() s(relname) order by 1 loop
    execute format('analyze omega.%I', t.relname);
    analyzed := analyzed || t.relname;
  end loop;
  return analyzed;
end $$;
revoke all on function omega.analyze_outgrown() from public;

create or replace function omega.plan_lock(p_cell text, p_task_ids bigint[], p_machine_ids bigint[], p_victim_ids bigint[])
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_tenants bigint[];
  v_machines bigint;
  v_locked bigint[];
  k bigint;
begin
  if exists (select from omega.outgrown_statistics()) then
    perform omega.analyze_outgrown();
  end if;
  -- A commit analyzing (above) is waited for: its statistics reach this session's plans when it ends.
  perform pg_advisory_xact_lock_shared(omega.statistics_lock_key()),
    pg_advisory_xact_lock_shared(omega.quota_lock_key(p_cell));
  -- The plan's jobs, placed and evicted, locked in id order; their tenants' quota rows next.
  select array_agg(distinct j.tenant_id) into v_tenants
  from (select t.job_id from unnest(p_task_ids) as u(id)
        cross join lateral (select t.job_id from omega.tasks t where t.cell = p_cell and t.id = u.id offset 0) t
        union
        select c.job_id from unnest(p_victim_ids) as u(id)
        cross join lateral (select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = u.id offset 0) c
        order by 1) u
  cross join lateral (select j.tenant_id from omega.jobs j where j.cell = p_cell and j.id = u.job_id for update) j;
  select count(*), coalesce(array_agg(m.id) filter (where m.id is not null), '{}') into v_machines, v_locked
  from (select distinct u.id from unnest(p_machine_ids) as u(id) order by u.id) u
  left join lateral (select m.id from omega.machines m where m.cell = p_cell and m.id = u.id
                     for update skip locked) m on true;
  perform from omega.quotas q
  where q.cell = p_cell and q.tenant_id = any (v_tenants)
  order by q.tenant_id, q.band for update;
  -- Anti-affinity domains (0202), last, in key order.
  if exists (select from omega.jobs r where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity'
             and r.state in ('pending', 'placed', 'running')) then
    for k in select omega.anti_affinity_lock_keys(p_cell, p_task_ids, p_machine_ids) loop
      perform pg_advisory_xact_lock(k);
    end loop;
  end if;
  if cardinality(v_locked) = v_machines then
    return '{}';
  end if;
  -- The ones that exist but were not locked (a missing machine is machine_not_found, not busy).
  return array(
    select m.id from unnest(p_machine_ids) as u(id)
    cross join lateral (select m.id from omega.machines m where m.cell = p_cell and m.id = u.id offset 0) m
    except select unnest(v_locked));
end $$;
