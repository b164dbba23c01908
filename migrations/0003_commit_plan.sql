-- The commit procedure: the single authority on what gets placed. A scheduler proposes placements
-- computed on its own (possibly stale) snapshot; this function re-checks every one against the
-- current state under row locks and commits those that still hold.
--
-- Lock order, shared by every procedure that writes claims: jobs (by id), then machines (by id),
-- then the cell row. Two commits can therefore never deadlock, and commits on disjoint machines
-- run in parallel.
--
-- Reasons a placement is rejected:
--   task_not_found, duplicate_task, task_not_pending, machine_not_found, machine_not_up,
--   machine_changed (coarse mode: the machine's version moved since the snapshot),
--   constraints_not_met, max_per_machine, insufficient_resources,
--   gang_incomplete (the gang would end with fewer than minAvailable tasks placed),
--   plan_aborted (all-or-nothing: another placement of the plan was rejected).
create function omega.commit_plan(
  p_cell text,
  p_scheduler text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text default 'incremental',
  p_conflict_mode text default 'fine',
  p_worker text default ''
) returns table (task_id bigint, machine_id bigint, outcome text, reason text)
language plpgsql as $$
#variable_conflict use_column
declare
  started timestamptz := clock_timestamp();
  plan_id bigint;
begin
  if p_transaction_mode not in ('incremental', 'all-or-nothing') then
    raise exception using errcode = 'OM422', message = format('unknown transaction mode %L', p_transaction_mode);
  end if;
  if p_conflict_mode not in ('fine', 'coarse') then
    raise exception using errcode = 'OM422', message = format('unknown conflict mode %L', p_conflict_mode);
  end if;
  if cardinality(p_task_ids) is distinct from cardinality(p_machine_ids)
     or cardinality(p_task_ids) is distinct from cardinality(p_machine_versions) then
    raise exception using errcode = 'OM422', message = 'task, machine and version arrays must have the same length';
  end if;

  perform from omega.jobs j
  where j.cell = p_cell and j.id in (select t.job_id from omega.tasks t where t.cell = p_cell and t.id = any (p_task_ids))
  order by j.id for update;
  perform from omega.machines m
  where m.cell = p_cell and m.id = any (p_machine_ids)
  order by m.id for update;

  plan_id := nextval(pg_get_serial_sequence('omega.plans', 'id'));

  return query
  with proposed as (
    select u.ord, u.task_id, u.machine_id, u.seen_version
    from unnest(p_task_ids, p_machine_ids, p_machine_versions) with ordinality as u(task_id, machine_id, seen_version, ord)
  ),
  facts as (
    select p.*, t.job_id, t.state as task_state,
      j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.max_per_machine, j.gang_min,
      j.selector, j.affinity, j.tolerations,
      m.id is not null as machine_exists, m.state as machine_state, m.version as machine_version,
      m.labels, m.taints,
      m.cpu - m.used_cpu as free_cpu, m.memory - m.used_memory as free_memory,
      m.gpu - m.used_gpu as free_gpu, m.disk - m.used_disk as free_disk,
      row_number() over (partition by p.task_id order by p.ord) > 1 as duplicate
    from proposed p
    left join omega.tasks t on t.cell = p_cell and t.id = p.task_id
    left join omega.jobs j on j.cell = p_cell and j.id = t.job_id
    left join omega.machines m on m.cell = p_cell and m.id = p.machine_id
  ),
  -- Checks that depend on one placement alone.
  static as (
    select f.*, case
      when f.job_id is null then 'task_not_found'
      when f.duplicate then 'duplicate_task'
      when f.task_state <> 'pending' then 'task_not_pending'
      when not f.machine_exists then 'machine_not_found'
      when f.machine_state <> 'up' then 'machine_not_up'
      when p_conflict_mode = 'coarse' and f.machine_version <> f.seen_version then 'machine_changed'
      when not omega.constraints_match(f.labels, f.taints, f.selector, f.affinity, f.tolerations) then 'constraints_not_met'
      end as reason
    from facts f
  ),
  -- maxPerMachine: the job's claims already on the machine plus its earlier placements in this plan.
  spread as (
    select s.*, case
      when s.reason is null and s.max_per_machine is not null
        and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = s.job_id and c.machine_id = s.machine_id)
          + row_number() over (partition by s.job_id, s.machine_id, s.reason is null order by s.ord) > s.max_per_machine
      then 'max_per_machine' else s.reason end as reason2
    from static s
  ),
  -- Capacity: running sums per machine, in plan order, over the placements still standing.
  fit as (
    select s.*, case
      when s.reason2 is null and (
        sum(s.cpu) over w > s.free_cpu or sum(s.memory) over w > s.free_memory
        or sum(s.gpu) over w > s.free_gpu or sum(s.disk) over w > s.free_disk)
      then 'insufficient_resources' else s.reason2 end as reason3
    from spread s
    window w as (partition by s.machine_id, s.reason2 is null order by s.ord)
  ),
  -- Gangs: a gang job ends with either zero claims or at least gang_min.
  gang as (
    select f.*, case
      when f.reason3 is null and f.gang_min is not null
        and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = f.job_id)
          + count(*) filter (where f.reason3 is null) over (partition by f.job_id) < f.gang_min
      then 'gang_incomplete' else f.reason3 end as reason4
    from fit f
  ),
  decided as (
    select g.*, case
      when g.reason4 is null and p_transaction_mode = 'all-or-nothing'
        and bool_or(g.reason4 is not null) over () then 'plan_aborted'
      else g.reason4 end as final_reason
    from gang g
  ),
  accepted as (
    select * from decided where final_reason is null
  ),
  new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, plan_id
    from accepted a
  ),
  machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
  ),
  task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
  ),
  job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        updated_at = now()
    from (select a.job_id, count(*) as n from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
  ),
  plan_log as (
    insert into omega.plans (cell, id, scheduler, worker, transaction_mode, conflict_mode, attempted, committed, rejected, duration_ms)
    overriding system value
    select p_cell, plan_id, p_scheduler, p_worker, p_transaction_mode, p_conflict_mode,
      (select count(*) from decided), (select count(*) from accepted),
      (select coalesce(jsonb_object_agg(r.final_reason, r.n), '{}')
       from (select d.final_reason, count(*) as n from decided d
             where d.final_reason is not null group by d.final_reason) r),
      extract(epoch from clock_timestamp() - started) * 1000
  )
  select d.task_id, d.machine_id,
    case when d.final_reason is null then 'committed' else 'rejected' end,
    d.final_reason
  from decided d
  order by d.ord;
end $$;
