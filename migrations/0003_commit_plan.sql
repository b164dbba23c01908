-- The commit procedure: the single authority on what gets placed. A scheduler proposes placements
-- (and evictions) computed on its own, possibly stale, snapshot; this function re-checks every one
-- against the current state under row locks and commits those that still hold.
--
-- Lock order, shared by every procedure that writes claims: jobs (by id), then machines (by id),
-- then quota rows (by tenant, band), then the cell row. Two commits can therefore never deadlock,
-- and commits on disjoint machines run in parallel.
--
-- Reasons a placement is rejected:
--   task_not_found, duplicate_task, task_not_pending, machine_not_found, machine_not_up,
--   machine_changed (coarse mode: the machine's version moved since the snapshot),
--   constraints_not_met, spread (no value of the job's spreadBy label on the machine, or the
--   value already holds its share: ceil(tasks / values)), max_per_machine, insufficient_resources,
--   quota_exceeded, gang_incomplete (the gang would end with fewer than minAvailable placed),
--   plan_aborted (all-or-nothing: another placement of the plan was rejected),
--   victim_gone, victim_invalid, victim_not_preemptible, victim_breaks_gang (preemption).

create type omega.plan_decision as (ord integer, task_id bigint, machine_id bigint, job_id bigint, reason text);

-- The verdict on every proposed placement, read-only, under the caller's locks. p_evicted are the
-- claims counted as gone (victims of preemptors still standing); p_forced_* are preemptors already
-- known to fail, with why.
create function omega.decide_plan(
  p_cell text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text,
  p_conflict_mode text,
  p_evicted bigint[],
  p_forced_ids bigint[],
  p_forced_reasons text[]
) returns setof omega.plan_decision
language sql stable as $$
  with proposed as (
    select u.ord::integer as ord, u.task_id, u.machine_id, u.seen_version
    from unnest(p_task_ids, p_machine_ids, p_machine_versions) with ordinality as u(task_id, machine_id, seen_version, ord)
  ),
  forced as (
    select f.task_id, min(f.reason) as reason
    from unnest(p_forced_ids, p_forced_reasons) as f(task_id, reason) group by f.task_id
  ),
  evicted as (
    select c.* from omega.claims c where c.cell = p_cell and c.task_id = any (p_evicted)
  ),
  -- What the evictions give back, to machines and to quotas.
  freed as (
    select e.machine_id, sum(e.cpu) as cpu, sum(e.memory) as memory, sum(e.gpu) as gpu, sum(e.disk) as disk
    from evicted e group by e.machine_id
  ),
  credit as (
    select e.tenant_id, omega.band(e.priority) as band,
      sum(e.cpu) as cpu, sum(e.memory) as memory, sum(e.gpu) as gpu, sum(e.disk) as disk
    from evicted e group by 1, 2
  ),
  facts as (
    select p.*, t.job_id, t.state as task_state,
      j.tenant_id, omega.band(j.priority) as band, j.task_count, j.cpu, j.memory, j.gpu, j.disk,
      j.max_per_machine, j.gang_min, j.selector, j.affinity, j.tolerations, j.spread_by,
      m.id is not null as machine_exists, m.state as machine_state, m.version as machine_version,
      m.labels, m.taints, m.labels ->> j.spread_by as domain,
      m.cpu - m.used_cpu + coalesce(fr.cpu, 0) as free_cpu,
      m.memory - m.used_memory + coalesce(fr.memory, 0) as free_memory,
      m.gpu - m.used_gpu + coalesce(fr.gpu, 0) as free_gpu,
      m.disk - m.used_disk + coalesce(fr.disk, 0) as free_disk,
      q.cell is not null as has_quota,
      q.cpu - q.used_cpu + coalesce(cr.cpu, 0) as quota_cpu,
      q.memory - q.used_memory + coalesce(cr.memory, 0) as quota_memory,
      q.gpu - q.used_gpu + coalesce(cr.gpu, 0) as quota_gpu,
      q.disk - q.used_disk + coalesce(cr.disk, 0) as quota_disk,
      fo.reason as forced_reason,
      row_number() over (partition by p.task_id order by p.ord) > 1 as duplicate
    from proposed p
    -- The plan's own rows by id (index lookups), not a hash join over every task and machine of
    -- the cell, so that a commit costs what it proposes, not the size of the cell.
    left join (select * from omega.tasks where cell = p_cell and id = any (p_task_ids)) t on t.id = p.task_id
    left join omega.jobs j on j.cell = p_cell and j.id = t.job_id
    left join (select * from omega.machines where cell = p_cell and id = any (p_machine_ids)) m on m.id = p.machine_id
    left join freed fr on fr.machine_id = p.machine_id
    left join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = omega.band(j.priority)
    left join credit cr on cr.tenant_id = j.tenant_id and cr.band = omega.band(j.priority)
    left join forced fo on fo.task_id = p.task_id
  ),
  -- Hard spread: a job naming spreadBy may hold at most ceil(tasks / values) tasks per value of
  -- that label, counting the values of the up machines its selector and affinity allow.
  spread_jobs as (
    select distinct f.job_id, f.spread_by, f.selector, f.affinity, f.task_count
    from facts f where f.spread_by is not null
  ),
  spread_caps as (
    select sj.job_id,
      ceil(sj.task_count::numeric / greatest(count(distinct m.labels ->> sj.spread_by), 1))::integer as cap
    from spread_jobs sj
    left join omega.machines m on m.cell = p_cell and m.state = 'up' and m.labels ? sj.spread_by
      and m.labels @> sj.selector and (sj.affinity = '[]'::jsonb or omega.affinity_matches(m.labels, sj.affinity))
    group by sj.job_id, sj.task_count
  ),
  spread_held as (
    select c.job_id, m.labels ->> sj.spread_by as domain, count(*) as n
    from spread_jobs sj
    join omega.claims c on c.cell = p_cell and c.job_id = sj.job_id
    join omega.machines m on m.cell = p_cell and m.id = c.machine_id
    group by 1, 2
  ),
  -- Checks that depend on one placement alone.
  static as (
    select f.*, case
      when f.job_id is null then 'task_not_found'
      when f.duplicate then 'duplicate_task'
      when f.task_state <> 'pending' then 'task_not_pending'
      when not f.machine_exists then 'machine_not_found'
      when f.forced_reason is not null then f.forced_reason
      when f.machine_state <> 'up' then 'machine_not_up'
      when p_conflict_mode = 'coarse' and f.machine_version <> f.seen_version then 'machine_changed'
      when not omega.constraints_match(f.labels, f.taints, f.selector, f.affinity, f.tolerations) then 'constraints_not_met'
      when f.spread_by is not null and f.domain is null then 'spread'
      end as r1
    from facts f
  ),
  -- maxPerMachine: the job's claims already on the machine plus its earlier placements in this plan.
  per_machine as (
    select s.*, case
      when s.r1 is null and s.max_per_machine is not null
        and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = s.job_id and c.machine_id = s.machine_id)
          + row_number() over (partition by s.job_id, s.machine_id, s.r1 is null order by s.ord) > s.max_per_machine
      then 'max_per_machine' else s.r1 end as r2
    from static s
  ),
  per_domain as (
    select s.*, case
      when s.r2 is null and s.spread_by is not null
        and coalesce((select h.n from spread_held h where h.job_id = s.job_id and h.domain = s.domain), 0)
          + row_number() over (partition by s.job_id, s.domain, s.r2 is null order by s.ord)
          > (select sc.cap from spread_caps sc where sc.job_id = s.job_id)
      then 'spread' else s.r2 end as r3
    from per_machine s
  ),
  -- Capacity: running sums per machine, in plan order, over the placements still standing.
  fit as (
    select s.*, case
      when s.r3 is null and (
        sum(s.cpu) over w > s.free_cpu or sum(s.memory) over w > s.free_memory
        or sum(s.gpu) over w > s.free_gpu or sum(s.disk) over w > s.free_disk)
      then 'insufficient_resources' else s.r3 end as r4
    from per_domain s
    window w as (partition by s.machine_id, s.r3 is null order by s.ord)
  ),
  -- Quotas: running sums per (tenant, band), in plan order, over the placements still standing.
  within_quota as (
    select s.*, case
      when s.r4 is null and s.has_quota and (
        sum(s.cpu) over w > s.quota_cpu or sum(s.memory) over w > s.quota_memory
        or sum(s.gpu) over w > s.quota_gpu or sum(s.disk) over w > s.quota_disk)
      then 'quota_exceeded' else s.r4 end as r5
    from fit s
    window w as (partition by s.tenant_id, s.band, s.r4 is null order by s.ord)
  ),
  -- Gangs: a gang job ends with either zero claims or at least gang_min.
  gang as (
    select g.*, case
      when g.r5 is null and g.gang_min is not null
        and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = g.job_id)
          + count(*) filter (where g.r5 is null) over (partition by g.job_id) < g.gang_min
      then 'gang_incomplete' else g.r5 end as r6
    from within_quota g
  )
  select d.ord, d.task_id, d.machine_id, d.job_id, case
      when d.r6 is null and p_transaction_mode = 'all-or-nothing' and bool_or(d.r6 is not null) over ()
      then 'plan_aborted' else d.r6 end
  from gang d
  order by d.ord
$$;

create function omega.commit_plan(
  p_cell text,
  p_scheduler text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text default 'incremental',
  p_conflict_mode text default 'fine',
  p_worker text default '',
  -- Preemption: claims (by task id) to evict, each for the placement of the task at the same
  -- position in p_victim_for, on the machine that placement names.
  p_victim_ids bigint[] default '{}',
  p_victim_for bigint[] default '{}'
) returns table (task_id bigint, machine_id bigint, outcome text, reason text)
-- Short OLTP work, but the correlated subqueries make the planner's cost estimate of a big plan
-- exceed jit_above_cost: on a server built with LLVM a 4,000-placement commit spent 1.4 s compiling
-- and 0.3 s executing (measured by omega bench with auto_explain). Without JIT it takes the 0.3 s.
language plpgsql set jit = off as $$
#variable_conflict use_column
declare
  started timestamptz := clock_timestamp();
  v_plan_id bigint;
  decisions omega.plan_decision[];
  ev_ids bigint[];
  ev_for bigint[];
  forced_ids bigint[] := '{}';
  forced_reasons text[] := '{}';
  failing record;
  s text;
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
  if coalesce(cardinality(p_victim_ids), 0) <> coalesce(cardinality(p_victim_for), 0) then
    raise exception using errcode = 'OM422', message = 'victim and victim_for arrays must have the same length';
  end if;

  -- Shared: commits never wait for each other here, only for a quota being set (put_quota).
  perform pg_advisory_xact_lock_shared(omega.quota_lock_key(p_cell));
  -- The jobs from the plan's tasks and victims, by id: not a scan of the cell's jobs.
  perform from omega.jobs j
  where j.cell = p_cell and j.id = any (array(
      select t.job_id from omega.tasks t where t.cell = p_cell and t.id = any (p_task_ids)
      union select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_victim_ids)))
  order by j.id for update;
  perform from omega.machines m
  where m.cell = p_cell and m.id = any (p_machine_ids)
  order by m.id for update;
  perform from omega.quotas q
  where q.cell = p_cell and q.tenant_id in (
      select j.tenant_id from omega.tasks t join omega.jobs j on j.cell = t.cell and j.id = t.job_id
      where t.cell = p_cell and t.id = any (p_task_ids)
      union select c.tenant_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_victim_ids))
  order by q.tenant_id, q.band for update;

  -- Victims on their own: each must hold a claim on its preemptor's machine, of strictly lower
  -- priority, and production never evicts production. One bad victim fails its preemptor, whose
  -- other victims then stay.
  for failing in
    with v as (
      select x.victim_id, x.for_task, x.ord, c.task_id is not null as held, c.machine_id, c.priority as victim_priority,
        target.machine_id as target, pj.priority as preemptor_priority,
        row_number() over (partition by x.victim_id order by x.ord) > 1 as duplicate
      from unnest(p_victim_ids, p_victim_for) with ordinality as x(victim_id, for_task, ord)
      left join omega.claims c on c.cell = p_cell and c.task_id = x.victim_id
      left join lateral (select u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
                         where u.task_id = x.for_task limit 1) target on true
      left join omega.tasks pt on pt.cell = p_cell and pt.id = x.for_task
      left join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
    )
    select v.for_task, min(case
        when v.target is null or v.preemptor_priority is null or v.duplicate then 'victim_invalid'
        when not v.held then 'victim_gone'
        when v.machine_id <> v.target then 'victim_invalid'
        when v.victim_priority >= v.preemptor_priority or (v.victim_priority >= 200 and v.preemptor_priority >= 200)
          then 'victim_not_preemptible'
        end) as reason
    from v group by v.for_task
    having bool_or(not v.held or v.target is null or v.preemptor_priority is null or v.duplicate
      or v.machine_id <> v.target or v.victim_priority >= v.preemptor_priority
      or (v.victim_priority >= 200 and v.preemptor_priority >= 200))
  loop
    forced_ids := forced_ids || failing.for_task;
    forced_reasons := forced_reasons || failing.reason::text;
  end loop;
  select coalesce(array_agg(x.v order by x.ord), '{}'), coalesce(array_agg(x.f order by x.ord), '{}')
    into ev_ids, ev_for
  from unnest(p_victim_ids, p_victim_for) with ordinality as x(v, f, ord)
  where x.f <> all (forced_ids);

  -- Decide; a preemptor that fails gives its victims back, which can only fail more placements,
  -- so this converges (at most once per preemptor).
  loop
    -- A gang job keeps zero claims or at least minAvailable: evictions that would leave it in
    -- between fail every preemptor taking part in them.
    for failing in
      select distinct e.f as for_task
      from unnest(ev_ids, ev_for) as e(v, f)
      join omega.claims c on c.cell = p_cell and c.task_id = e.v
      join omega.jobs j on j.cell = p_cell and j.id = c.job_id
      where j.gang_min is not null
        and (select count(*) from omega.claims c2 where c2.cell = p_cell and c2.job_id = j.id)
          - (select count(*) from omega.claims c3 where c3.cell = p_cell and c3.job_id = j.id and c3.task_id = any (ev_ids))
          between 1 and j.gang_min - 1
    loop
      forced_ids := forced_ids || failing.for_task;
      forced_reasons := forced_reasons || 'victim_breaks_gang'::text;
    end loop;
    select coalesce(array_agg(x.v order by x.ord), '{}'), coalesce(array_agg(x.f order by x.ord), '{}')
      into ev_ids, ev_for
    from unnest(ev_ids, ev_for) with ordinality as x(v, f, ord)
    where x.f <> all (forced_ids);

    decisions := array(select d from omega.decide_plan(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, ev_ids, forced_ids, forced_reasons) d);

    select coalesce(array_agg(d.task_id), '{}') as ids, coalesce(array_agg(d.reason), '{}') as reasons
      into failing
    from unnest(decisions) d
    where d.reason is not null and d.task_id = any (ev_for) and d.task_id <> all (forced_ids);
    exit when cardinality(failing.ids) = 0;
    forced_ids := forced_ids || failing.ids;
    forced_reasons := forced_reasons || failing.reasons;
    select coalesce(array_agg(x.v order by x.ord), '{}'), coalesce(array_agg(x.f order by x.ord), '{}')
      into ev_ids, ev_for
    from unnest(ev_ids, ev_for) with ordinality as x(v, f, ord)
    where x.f <> all (forced_ids);
  end loop;

  v_plan_id := nextval(pg_get_serial_sequence('omega.plans', 'id'));

  -- Evict: victims give their claims back and wait again, saying who took their place.
  if cardinality(ev_ids) > 0 then
    perform omega.release_claims(p_cell, ev_ids);
    for s in
      with requeued as (
        update omega.tasks t
        set state = 'pending', pending_since = now(),
            reason = format('preempted by job %s (task %s)', pt.job_id, e.f)
        from unnest(ev_ids, ev_for) as e(v, f)
        join omega.tasks pt on pt.cell = p_cell and pt.id = e.f
        where t.cell = p_cell and t.id = e.v and t.state in ('placed', 'running')
        returning t.job_id
      ), per_job as (
        select r.job_id, count(*) as n from requeued r group by r.job_id
      ), job_updates as (
        update omega.jobs j set pending_count = j.pending_count + pj.n, state = 'pending', blocked = false,
          updated_at = now()
        from per_job pj where j.cell = p_cell and j.id = pj.job_id
        returning j.scheduler
      )
      select distinct ju.scheduler from job_updates ju
    loop
      perform omega.wake(p_cell, s);
    end loop;
  end if;

  return query
  with decided as (
    select d.* from unnest(decisions) d
  ),
  accepted as (
    select d.task_id, d.machine_id, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk
    from decided d join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    where d.reason is null
  ),
  new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, v_plan_id
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
    insert into omega.plans (cell, id, scheduler, worker, transaction_mode, conflict_mode, attempted, committed,
      rejected, evicted, duration_ms)
    overriding system value
    select p_cell, v_plan_id, p_scheduler, p_worker, p_transaction_mode, p_conflict_mode,
      (select count(*) from decided), (select count(*) from accepted),
      (select coalesce(jsonb_object_agg(r.reason, r.n), '{}')
       from (select d.reason, count(*) as n from decided d where d.reason is not null group by d.reason) r),
      cardinality(ev_ids),
      extract(epoch from clock_timestamp() - started) * 1000
  )
  -- One row per proposed placement, in plan order, then one per eviction.
  select o.task_id, o.machine_id, o.outcome, o.reason
  from (
    select d.ord::bigint as k, d.task_id, d.machine_id,
      case when d.reason is null then 'committed' else 'rejected' end as outcome, d.reason
    from decided d
    union all
    select cardinality(p_task_ids) + e.ord, e.v, d.machine_id, 'evicted', format('preempted by task %s', e.f)
    from unnest(ev_ids, ev_for) with ordinality as e(v, f, ord)
    join decided d on d.task_id = e.f and d.reason is null
  ) o
  order by o.k;
end $$;
