-- A machine row written by a commit or a release moves its own cursor and version.
--
-- Every update of a machine moves its change cursor (`changed_xid`, which the schedulers' snapshots
-- sync by) and its version, by the BEFORE UPDATE row trigger machines_touch (0001) "so that no code
-- path can forget it". A PL/pgSQL row trigger costs a function call per row: for a 1,000-placement
-- commit on 10,000 machines, about a sixth of its backend CPU (scripts/commit-cost.ts 40 1000 with
-- the trigger disabled: 98.7 / 105.3 → 78.7 / 88.7 ms per lease + commit).
--
-- The commit's placements (plan_apply, as in 0243) and the release of claims (release_claims, as in
-- 0251) now set both columns in their UPDATE, and the trigger fires only for an update that did
-- not itself move both: any other writer, a person with psql included, is still touched.

create or replace function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
begin
  perform set_config('omega.task_moves_logged', 'on', true);
  perform set_config('omega.claims_verified', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk
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
  ), task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
    returning t.id, t.job_id, t.index, t.held, a.machine
  ), task_events as (
    -- What omega.record_task_events would log for these moves (it skips this statement).
    insert into omega.events (cell, job_id, task_id, task_index, kind, machine)
    select p_cell, t.job_id, t.id, t.index, case when t.held then 'reserved' else 'placed' end, t.machine
    from task_updates t
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
  )
  select count(*) into n from accepted;
  perform set_config('omega.task_moves_logged', '', true);
  perform set_config('omega.claims_verified', '', true);
  return n;
end $$;

create or replace function omega.release_claims(p_cell text, p_task_ids bigint[]) returns integer
language plpgsql as $$
declare
  released integer;
  freed bigint[];
begin
  perform from (select distinct c.machine_id
                from unnest(p_task_ids) as u(id)
                cross join lateral (select c.machine_id from omega.claims c
                                    where c.cell = p_cell and c.task_id = u.id offset 0) c
                order by 1) k
  cross join lateral (select from omega.machines m where m.cell = p_cell and m.id = k.machine_id for update) m;
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
  )
  select (select count(*) from gone), array(select id from machine_updates) into released, freed;
  if cardinality(freed) > 0 then
    perform set_config('omega.freed_machines',
      concat_ws(',', nullif(current_setting('omega.freed_machines', true), ''), array_to_string(freed, ',')), true);
  end if;
  return released;
end $$;

drop trigger machines_touch on omega.machines;
create trigger machines_touch before update on omega.machines
  for each row when (new.version = old.version or new.changed_xid is not distinct from old.changed_xid)
  execute function omega.touch_machine();
