-- Statistics refreshed when a table's size changes, not at every quarter of churn.
--
-- 0083 analyzed a hot table whenever a quarter of its rows (at least 500) had changed since the last
-- analyze. Two things were wrong with that under load (latency bench, 200 jobs/s):
--
-- * Too late for a young table. Workers plan their statements when they first run them; on a table
--   analyzed while empty (a fresh install, a new cell) they probed `cell = $1` through any index
--   that starts with the cell and filtered the key after: a commit's task lookup read 4,963 and then
--   18,377 buffers (auto_explain) until the first refresh, up to 5 s later, re-planned it.
-- * Too often for a busy one. Tasks and claims churn by far more than a quarter every few seconds at
--   a steady size, so they were analyzed at every check, and every analyze makes every session
--   re-plan every statement that reads the table: about 13 ms for the commit's verdict statement
--   alone, in each of a dozen worker connections.
--
-- Row counts do not need an analyze: the planner scales the estimate by the table's current size.
-- What an analyze brings is the shape (how selective a cell is, a state), and that changes when the
-- size does. So a table is analyzed as soon as it has doubled (from 50 rows up) or halved since its
-- statistics were taken, and otherwise at most once a minute when a quarter of it changed. Callers
-- run it every second (src/queue/statistics-keeper.ts); one at a time (the others skip), as two
-- would analyze the same table twice.
create or replace function omega.refresh_statistics() returns text[]
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  analyzed text[] := '{}';
begin
  if not pg_try_advisory_xact_lock(hashtext('omega.refresh_statistics')) then
    return analyzed;
  end if;
  for t in
    select s.relname from pg_stat_user_tables s
    join pg_class c on c.oid = s.relid
    where s.schemaname = 'omega'
      and s.relname in ('jobs', 'tasks', 'claims', 'machines', 'quotas', 'cells')
      and (s.n_live_tup >= 2 * greatest(c.reltuples, 50)
           or (c.reltuples >= 1000 and s.n_live_tup <= c.reltuples / 2)
           or (s.n_mod_since_analyze >= greatest(500, s.n_live_tup / 4)
               and coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '1 minute'))
    order by s.relname
  loop
    execute format('analyze omega.%I', t.relname);
    analyzed := analyzed || t.relname::text;
  end loop;
  return analyzed;
end $$;
call omega.grant_entry_point('refresh_statistics', '{omega_scheduler}');
