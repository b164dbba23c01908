-- A commit analyzes a table only while its statistics describe it as (nearly) empty (session 28).
--
-- 0348 analyzed a hot table at the start of a commit whenever it held four times the pages its
-- statistics were taken at. Each such analyze holds every other commit back until it ends (they
-- must not start with the plans it invalidates), and a table that grows through a run — claims,
-- from none to 200,000 in the throughput bench — was analyzed that way at 32, 128, 512, 2,048 …
-- pages: with four workers at 10 ms of decision time, 9 to 21 commits a run waited 120–445 ms for
-- one (`throughput --analyze-empty`, bench/results/session28/). Only the first of those analyzes
-- is needed: the hazard is a plan made on statistics of an empty or nearly empty table (no row,
-- so no column statistics, or a handful), where every index starting with the cell looks as cheap
-- as the primary key. Statistics taken with rows in the table say how many rows a cell holds, and
-- growth scales that estimate with the table's size, so the primary key keeps winning;
-- refresh_statistics (0311) goes on keeping a growing table's shape current without stopping
-- anyone. So a table is due here only while its statistics were taken on fewer than 8 pages, once
-- it holds 32 or more.

create or replace function omega.outgrown_statistics() returns setof text
language sql stable as $$
  select c.relname::text from pg_catalog.pg_class c
  where c.oid in ('omega.tasks'::regclass, 'omega.jobs'::regclass, 'omega.claims'::regclass,
                  'omega.machines'::regclass)
    and c.relpages < 8 and pg_catalog.pg_relation_size(c.oid) >= 32 * 8192
$$;
