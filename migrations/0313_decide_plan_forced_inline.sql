-- 0312 without materializing `forced`: four schedulers had collapsed.
--
-- 0312 made every CTE of omega.decide_plan MATERIALIZED to halve its planning. With four
-- schedulers racing on one backlog (`omega bench throughput`, 10,000 machines), placements/s fell
-- from 12,942 to 2,366 (4.9 commits a second, each ~300 ms of CPU); one and two schedulers were
-- unchanged. Their commits carry many placements that plan_lock found busy, and those come in
-- through `forced`: as a materialized CTE it is joined to every proposed placement by scanning it
-- again for each (a generic plan counts an unnested array as 10 rows), so the commit grew with the
-- product of the two. Restored to an inline subquery, with the other CTEs still materialized, four
-- schedulers placed 10,985/s in the same bench (0250's own decide_plan: 14,391; the day's run of
-- session 15's code: 12,942; the spread of this bench is wide), and a plan takes 7.3 ms to make
-- (0250: 12.3–12.9; 0312: 7.2–7.4).
create or replace function omega.decide_plan(
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
  with proposed as materialized (
    select u.ord::integer as ord, u.task_id, u.machine_id, u.seen_version
    from unnest(p_task_ids, p_machine_ids, p_machine_versions) with ordinality as u(task_id, machine_id, seen_version, ord)
  ),
  forced as (
    select f.task_id, min(f.reason) as reason
    from unnest(p_forced_ids, p_forced_reasons) as f(task_id, reason) group by f.task_id
  ),
  evicted as (
    select c.* from unnest(p_evicted) as e(task_id)
    cross join lateral (select * from omega.claims c where c.cell = p_cell and c.task_id = e.task_id offset 0) c
  ),
  -- What the evictions give back, to machines and to quotas.
  freed as materialized (
    select e.machine_id, sum(e.cpu) as cpu, sum(e.memory) as memory, sum(e.gpu) as gpu, sum(e.disk) as disk,
      count(*) as n
    from evicted e group by e.machine_id
  ),
  credit as materialized (
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
      m.max_tasks - m.tasks + coalesce(fr.n, 0) as free_slots,
      q.cell is not null as has_quota,
      q.cpu - q.used_cpu + coalesce(cr.cpu, 0) as quota_cpu,
      q.memory - q.used_memory + coalesce(cr.memory, 0) as quota_memory,
      q.gpu - q.used_gpu + coalesce(cr.gpu, 0) as quota_gpu,
      q.disk - q.used_disk + coalesce(cr.disk, 0) as quota_disk,
      fo.reason as forced_reason,
      row_number() over (partition by p.task_id order by p.ord) > 1 as duplicate
    from proposed p
    -- The plan's own rows, each by its key (see the top).
    left join lateral (select * from omega.tasks x where x.cell = p_cell and x.id = p.task_id offset 0) t on true
    left join lateral (select * from omega.jobs x where x.cell = p_cell and x.id = t.job_id offset 0) j on true
    left join lateral (select * from omega.machines x where x.cell = p_cell and x.id = p.machine_id offset 0) m on true
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
  spread_caps as materialized (
    select sj.job_id,
      ceil(sj.task_count::numeric / greatest(count(distinct m.labels ->> sj.spread_by), 1))::integer as cap
    from spread_jobs sj
    left join omega.machines m on m.cell = p_cell and m.state = 'up' and m.labels ? sj.spread_by
      and m.labels @> sj.selector and (sj.affinity = '[]'::jsonb or omega.affinity_matches(m.labels, sj.affinity))
    group by sj.job_id, sj.task_count
  ),
  spread_held as materialized (
    select c.job_id, m.labels ->> sj.spread_by as domain, count(*) as n
    from spread_jobs sj
    join omega.claims c on c.cell = p_cell and c.job_id = sj.job_id
    join omega.machines m on m.cell = p_cell and m.id = c.machine_id
    group by 1, 2
  ),
  -- Checks that depend on one placement alone.
  static as materialized (
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
  per_machine as materialized (
    select s.*, case
      when s.r1 is null and s.max_per_machine is not null
        and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = s.job_id and c.machine_id = s.machine_id)
          + row_number() over (partition by s.job_id, s.machine_id, s.r1 is null order by s.ord) > s.max_per_machine
      then 'max_per_machine' else s.r1 end as r2
    from static s
  ),
  per_domain as materialized (
    select s.*, case
      when s.r2 is null and s.spread_by is not null
        and coalesce((select h.n from spread_held h where h.job_id = s.job_id and h.domain = s.domain), 0)
          + row_number() over (partition by s.job_id, s.domain, s.r2 is null order by s.ord)
          > (select sc.cap from spread_caps sc where sc.job_id = s.job_id)
      then 'spread' else s.r2 end as r3
    from per_machine s
  ),
  -- Capacity: running sums per machine, in plan order, over the placements still standing; then
  -- the machine's task cap (maxTasks: claims there, less the plan's evictions, plus the plan's).
  fit as materialized (
    select s.*, case
      when s.r3 is null and (
        sum(s.cpu) over w > s.free_cpu or sum(s.memory) over w > s.free_memory
        or sum(s.gpu) over w > s.free_gpu or sum(s.disk) over w > s.free_disk)
      then 'insufficient_resources'
      when s.r3 is null and count(*) over w > s.free_slots then 'max_tasks'
      else s.r3 end as r4
    from per_domain s
    window w as (partition by s.machine_id, s.r3 is null order by s.ord)
  ),
  -- Quotas: running sums per (tenant, band), in plan order, over the placements still standing.
  within_quota as materialized (
    select s.*, case
      when s.r4 is null and s.has_quota and (
        sum(s.cpu) over w > s.quota_cpu or sum(s.memory) over w > s.quota_memory
        or sum(s.gpu) over w > s.quota_gpu or sum(s.disk) over w > s.quota_disk)
      then 'quota_exceeded' else s.r4 end as r5
    from fit s
    window w as (partition by s.tenant_id, s.band, s.r4 is null order by s.ord)
  ),
  -- Gangs: a gang job ends with either zero claims or at least gang_min.
  gang as materialized (
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
