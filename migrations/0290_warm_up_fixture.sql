-- Warm connections (issue 10, session 14). A backend's first submission costs about 38 ms against
-- 2–3 ms for its next (it reads its catalogs, compiles the PL/pgSQL functions and plans their
-- statements), and its first lease and commit as much again. A process opens all its connections
-- at start (src/db/pool.ts), so a first burst met twenty cold ones at once: at 200 jobs/s the
-- HTTP accept p50 of the first second was 0.7 s, against 20–50 ms afterwards.
--
-- So each connection runs the hot path once when its process starts (src/db/warm-up.ts), on what
-- this function makes inside the caller's transaction — a cell of one machine, a tenant and one
-- pending job of the caller's scheduler — and then rolls the transaction back. Nothing of it
-- outlives the transaction but sequence numbers; its names hold the backend's pid, so warm-ups
-- running at once never meet, and a real cell or tenant of that name only makes the warm-up fail
-- (which its caller logs and ignores).
--
-- A transaction that made a fixture can never commit: the scheduler role, which may not create
-- cells, tenants or jobs, would otherwise have a way to. The fixture leaves a mark whose deferred
-- trigger refuses the commit (and `set constraints ... immediate` only refuses it sooner).
create table omega.warm_ups (pid integer not null);

create function omega.refuse_warm_up_commit() returns trigger language plpgsql as $$
begin
  raise exception using errcode = 'OM409', message = 'a warm-up fixture is rolled back, never committed';
end $$;

create constraint trigger warm_ups_never_commit after insert on omega.warm_ups
  deferrable initially deferred
  for each row execute function omega.refuse_warm_up_commit();

create function omega.warm_up_fixture(p_scheduler text)
returns table (cell text, tenant text, tenant_id bigint, job_id bigint, machine_id bigint,
  machine_version bigint)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_name text := 'omega-warm-up-' || pg_backend_pid();
  v_tenant_id bigint;
  v_job_id bigint;
begin
  insert into omega.warm_ups (pid) values (pg_backend_pid());
  perform omega.create_cell(v_name);
  perform omega.set_quota_policy(v_name, '{"production": "unlimited"}');
  insert into omega.tenants (name, token_hash, max_priority)
  values (v_name, sha256(convert_to(v_name || random()::text, 'UTF8')), 999)
  returning id into v_tenant_id;
  insert into omega.machines (cell, name, cpu, memory) values (v_name, 'm', 64000, 262144);
  v_job_id := omega.submit_job(v_name, jsonb_build_object('cell', v_name, 'scheduler', p_scheduler,
    'tasks', 1, 'resources', jsonb_build_object('cpu', 100, 'memory', 128)), null);
  return query
  select v_name, v_name, v_tenant_id, v_job_id, m.id, m.version
  from omega.machines m where m.cell = v_name;
end $$;

call omega.grant_entry_point('warm_up_fixture', '{omega_api,omega_scheduler}');
