-- Least-privilege roles (NOLOGIN groups; deployments log in as members of one of them):
--   omega_scheduler  scheduler workers: read cell state, call the scheduling procedures, run the
--                    graphile-worker queue; no INSERT/UPDATE/DELETE on any omega table.
--   omega_api        the HTTP API: read everything, call the job, machine and quota procedures,
--                    write tenant token hashes (the one thing the API writes itself).
--   omega_reader     read-only inspection: every view and table, except tenant token hashes.
-- Procedures that write are SECURITY DEFINER (they run as the schema owner) with a pinned
-- search_path, and only the roles that need them may execute them. Invoker functions stay
-- executable by PUBLIC: they can do nothing their caller's own privileges do not allow.

-- Roles are cluster-wide and many databases of one server may be migrated at once (the test suite
-- does): create each only when missing, and take another migration's concurrent creation as done.
-- Checking first also lets an owner without CREATEROLE migrate once an administrator created them.
do $$
declare
  r text;
begin
  foreach r in array array['omega_api', 'omega_scheduler', 'omega_reader'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin', r);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
  end loop;
end $$;

-- A worker registers (or updates) its scheduler profile at start: the one write it made directly.
create function omega.register_scheduler(p_name text, p_profile jsonb) returns void
language sql as $$
  insert into omega.schedulers (name, profile) values (p_name, p_profile)
  on conflict (name) do update set profile = excluded.profile, updated_at = now()
$$;

-- Makes every function named omega.<p_name>, whatever its arguments, an entry point for p_roles:
-- SECURITY DEFINER; search_path pinned to pg_catalog and pg_temp (every body names omega.* and
-- graphile_worker.* objects in full, so a caller's own schemas or temporary objects cannot stand in
-- for ours); EXECUTE revoked from PUBLIC and the other omega roles, granted to p_roles. Idempotent.
-- CREATE OR REPLACE FUNCTION resets SECURITY DEFINER and SET, and a new argument list is a new
-- function without these grants: a migration that re-creates an entry point calls this again.
create procedure omega.grant_entry_point(p_name text, p_roles text[])
language plpgsql as $$
declare
  f regprocedure;
  n integer := 0;
begin
  for f in
    select p.oid::regprocedure from pg_catalog.pg_proc p
    where p.pronamespace = 'omega'::regnamespace and p.proname = p_name and p.prokind = 'f'
  loop
    execute format('alter function %s security definer set search_path = pg_catalog, pg_temp', f);
    execute format('revoke all on function %s from public, omega_api, omega_scheduler, omega_reader', f);
    if cardinality(p_roles) > 0 then
      execute format('grant execute on function %s to %s', f,
        (select string_agg(quote_ident(r), ', ') from unnest(p_roles) r));
    end if;
    n := n + 1;
  end loop;
  if n = 0 then
    raise exception 'grant_entry_point: no function omega.%', p_name;
  end if;
end $$;
revoke all on procedure omega.grant_entry_point from public;

call omega.grant_entry_point('commit_plan', '{omega_scheduler}');
call omega.grant_entry_point('lease_jobs', '{omega_scheduler}');
call omega.grant_entry_point('release_leases', '{omega_scheduler}');
call omega.grant_entry_point('park_job', '{omega_scheduler}');
call omega.grant_entry_point('wake', '{omega_scheduler}');
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');
call omega.grant_entry_point('register_scheduler', '{omega_scheduler}');
call omega.grant_entry_point('submit_job', '{omega_api}');
call omega.grant_entry_point('cancel_job', '{omega_api}');
call omega.grant_entry_point('create_cell', '{omega_api}');
call omega.grant_entry_point('put_machine', '{omega_api}');
call omega.grant_entry_point('set_machine_state', '{omega_api}');
call omega.grant_entry_point('remove_machine', '{omega_api}');
call omega.grant_entry_point('put_quota', '{omega_api}');

-- Every role: the schema, and whether it is migrated (what omega worker, omega serve and /readyz
-- check before they start).
grant usage on schema omega, omega_meta to omega_api, omega_scheduler, omega_reader;
grant select on omega_meta.migrations to omega_api, omega_scheduler, omega_reader;

-- Reads: every table and view (views run with their owner's rights; the tables are there for the
-- API's and the scheduler's queries and for inspection). Token hashes only for the API, which
-- authenticates with them. Tables and views added by later migrations get the same.
grant select on all tables in schema omega to omega_api, omega_scheduler, omega_reader;
revoke select on omega.tenants from omega_scheduler, omega_reader;
grant select (id, name, created_at) on omega.tenants to omega_scheduler, omega_reader;
alter default privileges in schema omega grant select on tables to omega_api, omega_scheduler, omega_reader;

-- The API's own writes: tenants with their token hashes (and rotation). Quotas go through
-- omega.put_quota, which keeps their usage exact.
grant insert (name, token_hash), update (token_hash) on omega.tenants to omega_api;

-- The scheduler runs graphile-worker: it takes, completes and reschedules queue jobs. graphile-worker
-- enables row-level security on its tables with no policy (only their owner sees a row), so the
-- scheduler also gets a policy that lets it see and change every row: its grants are the limit.
-- `omega migrate` calls this after every run, so that queue tables a graphile-worker upgrade adds
-- are covered whoever migrates; it changes nothing when nothing is missing.
create procedure omega.grant_queue_access()
language plpgsql as $$
declare
  t regclass;
begin
  if not pg_catalog.has_schema_privilege('omega_scheduler', 'graphile_worker', 'usage') then
    execute 'grant usage on schema graphile_worker to omega_scheduler';
  end if;
  for t in
    select c.oid::regclass from pg_catalog.pg_class c
    where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind = 'r'
      -- (a list of privileges would ask whether any one of them is held: ask for each)
      and not (pg_catalog.has_table_privilege('omega_scheduler', c.oid, 'select')
        and pg_catalog.has_table_privilege('omega_scheduler', c.oid, 'insert')
        and pg_catalog.has_table_privilege('omega_scheduler', c.oid, 'update')
        and pg_catalog.has_table_privilege('omega_scheduler', c.oid, 'delete'))
  loop
    execute format('grant select, insert, update, delete on %s to omega_scheduler', t);
  end loop;
  for t in
    select c.oid::regclass from pg_catalog.pg_class c
    where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind = 'S'
      and not (pg_catalog.has_sequence_privilege('omega_scheduler', c.oid, 'usage')
        and pg_catalog.has_sequence_privilege('omega_scheduler', c.oid, 'select'))
  loop
    execute format('grant usage, select on sequence %s to omega_scheduler', t);
  end loop;
  for t in
    select c.oid::regclass from pg_catalog.pg_class c
    where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind = 'r' and c.relrowsecurity
      and not exists (select from pg_catalog.pg_policy p where p.polrelid = c.oid and p.polname = 'omega_scheduler')
  loop
    execute format('create policy omega_scheduler on %s for all to omega_scheduler using (true) with check (true)', t);
  end loop;
end $$;
revoke all on procedure omega.grant_queue_access from public;
call omega.grant_queue_access();
