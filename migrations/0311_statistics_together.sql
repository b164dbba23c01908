-- Fewer re-planning storms while a cell grows (0260's rule, coarser and in step).
--
-- Every analyze of a table makes every connection plan its statements on it again: about 13 ms for
-- the commit's verdict statement alone (24 on a busy machine), in each worker connection, and the
-- commits of that moment wait for it. 0260 analyzed a table whenever it had doubled, and jobs,
-- tasks and claims double at different moments (a job has 1–4 tasks; claims follow placements):
-- a cell growing from empty to 6,000 jobs at 200 jobs/s went through 15–20 such storms in 30 s
-- (`OMEGA_BENCH_PROFILE=1 omega bench latency`), and the submit→placed p99 of those seconds was
-- 100–250 ms against 35–60 in the seconds after.
--
-- Now nothing is analyzed until one of the hot tables is due: it has grown fourfold (from 50 rows
-- up) or shrunk to a quarter (from 1,000), or a quarter of it changed and its statistics are over
-- a minute old (0260's churn rule, unchanged). Then, in the same transaction (one storm), every hot
-- table that has grown or shrunk by half since its statistics were taken is analyzed with it. The
-- planner scales row counts by a table's current size; what an analyze adds is its shape, which a
-- size off by less than 4 changes little: lookups are by key whatever the statistics (0232, 0240).

-- The hot tables' rows now and when their statistics were taken, and whether a quarter of a table
-- (at least 500 rows) changed since then over a minute ago.
create function omega.hot_table_sizes()
returns table (relname text, live double precision, analyzed double precision, churned boolean)
language sql stable set search_path = pg_catalog, pg_temp as $$
  select s.relname::text, s.n_live_tup::double precision, c.reltuples::double precision,
    s.n_mod_since_analyze >= greatest(500, s.n_live_tup / 4)
      and coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '1 minute'
  from pg_stat_user_tables s
  join pg_class c on c.oid = s.relid
  where s.schemaname = 'omega'
    and s.relname in ('jobs', 'tasks', 'claims', 'machines', 'quotas', 'cells')
$$;

create or replace function omega.refresh_statistics() returns text[]
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  analyzed text[] := '{}';
begin
  if not pg_try_advisory_xact_lock(hashtext('omega.refresh_statistics')) then
    return analyzed;
  end if;
  if not exists (
    select from omega.hot_table_sizes() s
    where s.live >= 4 * greatest(s.analyzed, 50)
       or (s.analyzed >= 1000 and s.live <= s.analyzed / 4)
       or s.churned) then
    return analyzed;
  end if;
  for t in
    select s.relname from omega.hot_table_sizes() s
    where s.live >= 1.5 * greatest(s.analyzed, 50)
       or (s.analyzed >= 1000 and s.live <= s.analyzed / 1.5)
       or s.churned
    order by s.relname
  loop
    execute format('analyze omega.%I', t.relname);
    analyzed := analyzed || t.relname::text;
  end loop;
  return analyzed;
end $$;
