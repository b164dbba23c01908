-- Machine updates that can be HOT: a per-cell change log instead of an index on changed_xid
-- (session 23).
--
-- A commit updates each machine it places on (its usage and version). machines_changed, the index
-- on (cell, changed_xid) that the snapshot sync reads, made every one of those updates a non-HOT
-- update: a new index entry in each of the table's indexes, for every machine, at every commit.
-- Side by side (scripts/cost-ab.ts), with the index gone and room left on the pages, a
-- 100-placement lease + commit costs ÷ 0.895 and a 3-placement one ÷ 0.979 of the backend's CPU.
--
-- The sync finds the machines changed since its cursor in omega.machine_changes instead: one row
-- per writing statement (a commit's plan_apply and a release_claims write theirs in the statement,
-- every other writer of machines through the two statement triggers below), with the writer's
-- transaction id. A cursor is the xmin of the sync's snapshot (src/db/snapshot.ts), so the rule
-- is the one changed_xid had: a transaction whose id is ≥ the cursor may not have been seen yet.
--
-- The log is pruned (omega.prune_machine_changes, from the workers' maintenance) of rows older
-- than ten minutes; cells.changes_horizon is the largest transaction id pruned, and a sync whose
-- cursor is not above it reads the cell whole, as a first sync does. Existing cells start their
-- horizon at this migration: changes before it were never logged.
--
-- changed_xid stays (omega.touch_machine still stamps it): a column nothing indexes costs nothing.

create table omega.machine_changes (
  cell omega.name not null,
  id bigint generated always as identity,
  xid xid8 not null default pg_current_xact_id(),
  logged_at timestamptz not null default now(),
  machine_ids bigint[] not null,
  primary key (cell, xid, id)
);
comment on table omega.machine_changes is
  'Which machines each writing statement changed, by transaction: what the snapshot sync reads (0346).';
grant select on omega.machine_changes to omega_api, omega_reader, omega_scheduler;

alter table omega.cells add column changes_horizon xid8 not null default pg_current_xact_id();
comment on column omega.cells.changes_horizon is
  'The largest transaction id pruned from omega.machine_changes: a sync cursor at or below it reads the cell whole.';

drop index omega.machines_changed;
-- Room on each page for the new version of a row, so that an update can stay on its page (HOT).
-- Pages written from now on; `vacuum full omega.machines` applies it to the existing ones.
alter table omega.machines set (fillfactor = 60);

create function omega.log_machine_changes() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into omega.machine_changes (cell, machine_ids)
  select m.cell, array_agg(m.id) from changed_machines m group by m.cell;
  return null;
end $$;
revoke execute on function omega.log_machine_changes() from public;

create trigger machines_changes_inserted after insert on omega.machines
  referencing new table as changed_machines
  for each statement when (current_setting('omega.machine_changes_logged', true) is distinct from 'on')
  execute function omega.log_machine_changes();
create trigger machines_changes_updated after update on omega.machines
  referencing new table as changed_machines
  for each statement when (current_setting('omega.machine_changes_logged', true) is distinct from 'on')
  execute function omega.log_machine_changes();

create function omega.prune_machine_changes(p_keep interval default '10 minutes') returns integer
language plpgsql as $$
declare
  n integer;
begin
  with gone as (
    delete from omega.machine_changes l where l.logged_at < now() - p_keep returning l.cell, l.xid
  ), horizons as (
    select g.cell, max(g.xid) as xid, count(*) as n from gone g group by g.cell
  ), moved as (
    update omega.cells c set changes_horizon = greatest(c.changes_horizon, h.xid)
    from horizons h where c.name = h.cell
  )
  select coalesce(sum(h.n), 0) into n from horizons h;
  return n;
end $$;
call omega.grant_entry_point('prune_machine_changes', '{omega_scheduler}');

create or replace function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
  settings text;
begin
  settings := set_config('omega.task_moves_logged', 'on', true) || set_config('omega.claims_verified', 'on', true)
    || set_config('omega.pending_counted', 'on', true) || set_config('omega.machine_changes_logged', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk,
      j.state as job_state
    from unnest(p_decisions) d
    join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    join omega.machines m on m.cell = p_cell and m.id = d.machine_id
    where d.reason is null
  ), new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, p_plan_id
    from accepted a
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n,
        version = m.version + 1, changed_xid = pg_current_xact_id()
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
    returning m.id
  ), machine_changes_logged as (
    -- What omega.log_machine_changes would log for this statement (it skips it): one row a plan.
    insert into omega.machine_changes (cell, machine_ids)
    select p_cell, array_agg(u.id) from machine_updates u having count(*) > 0
  ), task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
    returning t.id, t.job_id, t.index, t.held, a.machine
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n, min(a.job_state) as old_state from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
    returning j.id, j.state, a.old_state
  ), moves_logged as (
    -- What omega.record_task_events and omega.record_job_event would log for these moves (they skip
    -- this statement): each task placed, then each job whose state changed.
    insert into omega.events (cell, job_id, task_id, task_index, kind, machine)
    select p_cell, t.job_id, t.id, t.index, case when t.held then 'reserved' else 'placed' end, t.machine
    from task_updates t
    union all
    select p_cell, u.id, null, null, u.state, null from job_updates u where u.state is distinct from u.old_state
  ), pending_counts as (
    -- What omega.job_counts_pending would count for these jobs (it skips this statement): a placed
    -- task of a pending job leaves the tenant's backlog (a job of another state was not in it).
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select a.tenant_id, pg_backend_pid(), -count(*) from accepted a where a.job_state = 'pending'
    group by a.tenant_id order by a.tenant_id
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks
  )
  select count(*) into n from accepted;
  settings := set_config('omega.task_moves_logged', '', true) || set_config('omega.claims_verified', '', true)
    || set_config('omega.pending_counted', '', true) || set_config('omega.machine_changes_logged', '', true);
  return n;
end $$;


create or replace function omega.release_claims(p_cell text, p_task_ids bigint[]) returns integer
language plpgsql as $$
declare
  released integer;
  freed bigint[];
  settings text;
begin
  perform from (select distinct c.machine_id
                from unnest(p_task_ids) as u(id)
                cross join lateral (select c.machine_id from omega.claims c
                                    where c.cell = p_cell and c.task_id = u.id offset 0) c
                order by 1) k
  cross join lateral (select from omega.machines m where m.cell = p_cell and m.id = k.machine_id for update) m;
  settings := set_config('omega.machine_changes_logged', 'on', true);
  with gone as (
    -- By the rows just found by key (claims are never updated: the row found is the row, or gone).
    delete from omega.claims c
    where c.ctid = any (array(
        select x.ctid from unnest(p_task_ids) as u(id)
        cross join lateral (select c.ctid from omega.claims c where c.cell = p_cell and c.task_id = u.id offset 0) x))
    returning c.*
  ), per_machine as (
    select machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk, count(*) as n
    from gone group by machine_id
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu - pm.cpu, used_memory = m.used_memory - pm.memory,
        used_gpu = m.used_gpu - pm.gpu, used_disk = m.used_disk - pm.disk, tasks = m.tasks - pm.n,
        version = m.version + 1, changed_xid = pg_current_xact_id()
    from (select pm.*, x.ctid as row_id from per_machine pm
          cross join lateral (select x.ctid from omega.machines x where x.cell = p_cell and x.id = pm.machine_id offset 0) x) pm
    -- By the row just found (locked above).
    where m.ctid = pm.row_id
    returning m.id
  ), machine_changes_logged as (
    -- What omega.log_machine_changes would log for this statement (it skips it).
    insert into omega.machine_changes (cell, machine_ids)
    select p_cell, array_agg(u.id) from machine_updates u having count(*) > 0
  )
  select (select count(*) from gone), array(select id from machine_updates) into released, freed;
  settings := set_config('omega.machine_changes_logged', '', true);
  if cardinality(freed) > 0 then
    perform set_config('omega.freed_machines',
      concat_ws(',', nullif(current_setting('omega.freed_machines', true), ''), array_to_string(freed, ',')), true);
  end if;
  return released;
end $$;
