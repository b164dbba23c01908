-- A claim's task and machine are checked once per statement, not by a foreign-key trigger per row.
--
-- Each placement inserts a claim, and its two foreign keys each ran an RI check per row: a query
-- through SPI with its own executor start-up, 2,000 of them in a 1,000-placement commit. Dropping
-- the two keys took a 1,000-placement lease + commit from 80–81 to 67–71 ms of backend CPU
-- (scripts/commit-cost.ts, 10,000 machines). The same rule, with the same error, now holds as:
--   - an AFTER INSERT statement trigger on claims that looks up every new claim's task and machine
--     in one query (claims cannot be updated: claims_immutable);
--   - BEFORE DELETE row triggers on tasks and machines that refuse to delete a row a claim holds
--     (what the foreign keys' other side did). Rows are deleted rarely (omega.remove_machine, which
--     returns the machine's claims first; a cell moved between partitions, children first).
-- plan_apply, the commit's placements, skips the statement check: decide_plan has just found every
-- task and machine of the plan (task_not_found, machine_not_found) and plan_lock holds them, so it
-- says so in a transaction-local setting for the one statement (as it does for its events, 0233).
-- Without it the check cost 2,000 index lookups a 1,000-placement commit (76-78 ms, not 67-71).
-- Only the omega roles' SECURITY DEFINER functions write claims, so no client can use the setting
-- to slip a claim past the check.
-- The foreign keys also locked the rows they found (FOR KEY SHARE) until commit. Every writer of
-- claims already holds those rows: commit_plan and a rebalance move lock the machines (plan_lock)
-- and update the tasks they place. A delete that waits on such a lock checks again, on a fresh
-- snapshot, once the writer has committed.

alter table omega.claims
  drop constraint claims_cell_task_id_fkey,
  drop constraint claims_cell_machine_id_fkey;

-- (A key lookup per new claim, whatever the statistics say: a transition table has none.)
create function omega.claims_reference_rows() returns trigger
language plpgsql set search_path = pg_catalog, pg_temp set plan_cache_mode = force_generic_plan
  set enable_seqscan = off set enable_bitmapscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
declare
  bad record;
begin
  if current_setting('omega.claims_verified', true) = 'on' then
    return null;
  end if;
  select n.cell, n.task_id, n.machine_id, t.id is null as no_task
  into bad
  from new_claims n
  left join omega.tasks t on t.cell = n.cell and t.id = n.task_id
  left join omega.machines m on m.cell = n.cell and m.id = n.machine_id
  where t.id is null or m.id is null
  limit 1;
  if found then
    raise exception using errcode = 'foreign_key_violation', table = 'claims',
      constraint = case when bad.no_task then 'claims_cell_task_id_fkey' else 'claims_cell_machine_id_fkey' end,
      message = format('insert or update on table "claims" violates foreign key constraint "%s"',
        case when bad.no_task then 'claims_cell_task_id_fkey' else 'claims_cell_machine_id_fkey' end),
      detail = case when bad.no_task
        then format('Key (cell, task_id)=(%s, %s) is not present in table "tasks".', bad.cell, bad.task_id)
        else format('Key (cell, machine_id)=(%s, %s) is not present in table "machines".', bad.cell, bad.machine_id) end;
  end if;
  return null;
end $$;

create trigger claims_reference_rows after insert on omega.claims
  referencing new table as new_claims for each statement execute function omega.claims_reference_rows();

-- (tg_argv[0]: the claims column that refers to the deleted row, task_id or machine_id.)
create function omega.claimed_rows_stay() returns trigger
language plpgsql set search_path = pg_catalog, pg_temp as $$
begin
  if (tg_argv[0] = 'task_id' and exists (select from omega.claims c where c.cell = old.cell and c.task_id = old.id))
     or (tg_argv[0] = 'machine_id'
         and exists (select from omega.claims c where c.cell = old.cell and c.machine_id = old.id)) then
    raise exception using errcode = 'foreign_key_violation', table = tg_table_name,
      constraint = format('claims_cell_%s_fkey', tg_argv[0]),
      message = format('update or delete on table "%s" violates foreign key constraint "claims_cell_%s_fkey" on table "claims"',
        tg_table_name, tg_argv[0]),
      detail = format('Key (cell, id)=(%s, %s) is still referenced from table "claims".', old.cell, old.id);
  end if;
  return old;
end $$;

create trigger tasks_claimed_stay before delete on omega.tasks
  for each row execute function omega.claimed_rows_stay('task_id');
create trigger machines_claimed_stay before delete on omega.machines
  for each row execute function omega.claimed_rows_stay('machine_id');

-- plan_apply (0233), telling the check above that it verified its claims.
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
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n
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
