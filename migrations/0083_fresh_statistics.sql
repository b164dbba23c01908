-- Statistics that keep up with a young, fast-growing cell.
--
-- The hot path's plans are generic (planned once per connection, 0021), so they are only as good as
-- the statistics when they were made. A plan made while a table was young — a fresh install, a
-- cell just created, a benchmark's first second — believed `cell = $1` matched a handful of rows,
-- and looked rows up by cell alone, filtering the ids after: every commit read every machine and
-- every job of the cell, every lease the whole backlog (auto_explain on a cell of 1,000 machines
-- and 1,000 jobs: the lock, quota and verdict steps each read 1,000 rows to find 3). PostgreSQL
-- re-plans when a table is analyzed, but autovacuum looks at most once a minute and, for a table
-- that doubles every few seconds, too late.
--
-- omega.refresh_statistics analyzes the tables of the hot path that changed by more than a quarter
-- (or 500 rows) since their last analyze: cheap while they are small, rare once they are large. A
-- worker's maintenance calls it every few seconds (one worker at a time: src/queue/maintenance.ts).
-- Returns the tables analyzed.
create function omega.refresh_statistics() returns text[]
language plpgsql as $$
declare
  t record;
  analyzed text[] := '{}';
begin
  for t in
    select s.relname from pg_catalog.pg_stat_user_tables s
    where s.schemaname = 'omega'
      and s.relname in ('jobs', 'tasks', 'claims', 'machines', 'quotas', 'cells')
      and s.n_mod_since_analyze >= greatest(500, s.n_live_tup / 4)
    order by s.relname
  loop
    execute format('analyze omega.%I', t.relname);
    analyzed := analyzed || t.relname::text;
  end loop;
  return analyzed;
end $$;
call omega.grant_entry_point('refresh_statistics', '{omega_scheduler}');
