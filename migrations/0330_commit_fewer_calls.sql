-- A commit in fewer statements and trigger calls.
--
-- Profiled with perf (DWARF call graphs) on scripts/commit-cost.ts, 3-placement commits: executor
-- start-up is a fifth of the backend's CPU, and PostgreSQL 15 re-reads at the start of each
-- statement, from their stored text, the WHEN clause of every row trigger the statement may fire
-- (TriggerEnabled) besides the check constraints of the tables it writes. Every rule stays; what
-- changes is how often the machinery around them runs:
--   - The claims insert of a commit fired four statement triggers (ports, quota, shares, reference
--     check), each a PL/pgSQL call with its transition table. The ports and the counting are one
--     trigger function now (omega.claims_changed, for inserts and deletes alike), and the reference
--     check, which plan_apply skips (0243), is not called at all when it would skip: its trigger's
--     WHEN reads the setting.
--   - machines_spec's WHEN compares spec columns only: it is now UPDATE OF those columns, so the
--     machine update of a commit (used_*, tasks, version) passes it by before its WHEN is read.
--     jobs_pending_updated likewise is UPDATE OF state, pending_count (a lease names neither).
--     Only BEFORE UPDATE OF state triggers change those columns of a row unnamed by the UPDATE, and
--     they fire only when state is named.
--   - plan_lock in four statements rather than seven: the jobs are locked and their tenants read in
--     one, and the busy machines are looked up only when one was skipped.

-- The claims' ports (0103, 0250), the tenants' shares (0140) and quotas (0007, 0241), counted in one
-- call per statement. (The ports' jobs are joined by key: a trigger's statement is planned once per
-- session, with the transition table's size at the first call.)
create function omega.claims_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
  borrower record;
  lenders bigint[];
  s record;
begin
  if tg_op = 'INSERT' then
    insert into omega.claim_ports (cell, machine_id, port, task_id)
    select n.cell, n.machine_id, p.port, n.task_id
    from (select distinct n.cell, n.job_id from changed n) k
    cross join lateral (select j.ports from omega.jobs j
                        where j.cell = k.cell and j.id = k.job_id and j.ports <> '{}' offset 0) j
    join changed n on n.cell = k.cell and n.job_id = k.job_id
    cross join lateral unnest(j.ports) as p(port);
  end if;

  insert into omega.tenant_usage as u (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
  select c.cell, c.tenant_id, pg_backend_pid() % 16,
    sign * sum(c.cpu), sign * sum(c.memory), sign * sum(c.gpu), sign * sum(c.disk), sign * count(*)
  from changed c group by c.cell, c.tenant_id order by c.cell, c.tenant_id
  on conflict (cell, tenant_id, shard) do update
    set cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory, gpu = u.gpu + excluded.gpu,
        disk = u.disk + excluded.disk, tasks = u.tasks + excluded.tasks;

  for borrower in
    with charged as (
      update omega.quotas q
      set used_cpu = q.used_cpu + sign * d.cpu, used_memory = q.used_memory + sign * d.memory,
          used_gpu = q.used_gpu + sign * d.gpu, used_disk = q.used_disk + sign * d.disk
      from (select c.cell, c.tenant_id, omega.band(c.priority) as band,
                   sum(c.cpu) as cpu, sum(c.memory) as memory, sum(c.gpu) as gpu, sum(c.disk) as disk
            from changed c group by 1, 2, 3) d
      where q.cell = d.cell and q.tenant_id = d.tenant_id and q.band = d.band
      returning q.cell, q.band, q.cohort, q.tenant_id, q.used_cpu > q.nominal_cpu as cpu,
        q.used_memory > q.nominal_memory as memory, q.used_gpu > q.nominal_gpu as gpu,
        q.used_disk > q.nominal_disk as disk
    )
    select c.* from charged c
    where sign = 1 and c.cohort is not null and (c.cpu or c.memory or c.gpu or c.disk)
  loop
    -- A borrowing member unparks its lenders' work (0241): members under their own quota in a
    -- dimension this member borrows.
    lenders := array(
      select l.tenant_id from omega.quotas l
      where l.cell = borrower.cell and l.band = borrower.band and l.cohort = borrower.cohort
        and l.tenant_id <> borrower.tenant_id
        and (borrower.cpu and l.used_cpu < l.nominal_cpu or borrower.memory and l.used_memory < l.nominal_memory
             or borrower.gpu and l.used_gpu < l.nominal_gpu or borrower.disk and l.used_disk < l.nominal_disk));
    if cardinality(lenders) = 0 then
      continue;
    end if;
    update omega.cells set capacity_epoch = capacity_epoch + 1 where name = borrower.cell;
    for s in
      with unblocked as (
        update omega.jobs j set blocked = false
        -- (Skip locked: a job another commit is unblocking, or one being cancelled, is served.)
        from (select p.id from omega.jobs p
              where p.tenant_id = any (lenders) and p.cell = borrower.cell and p.state = 'pending'
                and p.blocked and omega.band(p.priority) = borrower.band
              for update skip locked) b
        where j.cell = borrower.cell and j.id = b.id
        returning j.scheduler)
      select distinct u.scheduler from unblocked u
    loop
      perform omega.wake(borrower.cell, s.scheduler);
    end loop;
  end loop;
  return null;
end $$;
revoke execute on function omega.claims_changed() from public;

drop trigger claims_ports on omega.claims;
drop trigger claims_quota_insert on omega.claims;
drop trigger claims_quota_delete on omega.claims;
drop trigger claims_share_insert on omega.claims;
drop trigger claims_share_delete on omega.claims;
drop function omega.claims_hold_ports();
drop function omega.claims_count_against_quotas();
drop function omega.claims_count_against_shares();
create trigger claims_changed_insert after insert on omega.claims
  referencing new table as changed
  for each statement execute function omega.claims_changed();
create trigger claims_changed_delete after delete on omega.claims
  referencing old table as changed
  for each statement execute function omega.claims_changed();

drop trigger claims_reference_rows on omega.claims;
create trigger claims_reference_rows after insert on omega.claims
  referencing new table as new_claims
  for each statement when (current_setting('omega.claims_verified', true) is distinct from 'on')
  execute function omega.claims_reference_rows();

drop trigger machines_spec on omega.machines;
create trigger machines_spec before update of name, state, cpu, memory, gpu, disk, max_tasks, labels, taints
  on omega.machines
  for each row when ((new.name, new.state, new.cpu, new.memory, new.gpu, new.disk, new.max_tasks, new.labels, new.taints)
    is distinct from (old.name, old.state, old.cpu, old.memory, old.gpu, old.disk, old.max_tasks, old.labels, old.taints))
  execute function omega.touch_machine_spec();

drop trigger jobs_pending_updated on omega.jobs;
create trigger jobs_pending_updated after update of state, pending_count on omega.jobs
  for each row when (
    case when old.state = 'pending' then old.pending_count else 0 end
      <> case when new.state = 'pending' then new.pending_count else 0 end
    and current_setting('omega.pending_counted', true) is distinct from 'on')
  execute function omega.job_counts_pending();

create or replace function omega.plan_lock(p_cell text, p_task_ids bigint[], p_machine_ids bigint[], p_victim_ids bigint[])
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_tenants bigint[];
  v_machines bigint;
  v_locked bigint[];
  k bigint;
begin
  perform pg_advisory_xact_lock_shared(omega.quota_lock_key(p_cell));
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
