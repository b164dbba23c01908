CREATE OR REPLACE FUNCTION omega.plan_verdicts(p_cell text, p_task_ids bigint[], p_machine_ids bigint[], p_machine_versions bigint[], p_transaction_mode text, p_conflict_mode text, p_evicted bigint[], p_forced_ids bigint[], p_forced_reasons text[])
 RETURNS omega.plan_decision[]
 LANGUAGE plpgsql
 STABLE
AS $function$
declare
  facts omega.plan_fact[];
  reasons text[];
begin
  -- 1. Facts, and the checks that depend on one placement alone.
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
    cross join lateral (select c.machine_id, c.tenant_id, c.priority, c.cpu, c.memory, c.gpu, c.disk from omega.claims c
                        where c.cell = p_cell and c.task_id = e.task_id offset 0) c
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
    -- The plan's own rows, each by its key (0250).
    left join lateral (select x.job_id, x.state from omega.tasks x where x.cell = p_cell and x.id = p.task_id offset 0) t on true
    left join lateral (select x.tenant_id, x.priority, x.task_count, x.cpu, x.memory, x.gpu, x.disk,
      x.max_per_machine, x.gang_min, x.selector, x.affinity, x.tolerations, x.spread_by from omega.jobs x where x.cell = p_cell and x.id = t.job_id offset 0) j on true
    left join lateral (select x.id, x.state, x.version, x.labels, x.taints, x.cpu, x.used_cpu, x.memory, x.used_memory,
      x.gpu, x.used_gpu, x.disk, x.used_disk, x.max_tasks, x.tasks from omega.machines x where x.cell = p_cell and x.id = p.machine_id offset 0) m on true
    left join freed fr on fr.machine_id = p.machine_id
    left join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = omega.band(j.priority)
    left join credit cr on cr.tenant_id = j.tenant_id and cr.band = omega.band(j.priority)
    -- Not materialized: see 0313.
    left join forced fo on fo.task_id = p.task_id
  )
  select array_agg(row(f.ord, f.task_id, f.machine_id, f.job_id, f.tenant_id, f.band, f.task_count,
           f.cpu, f.memory, f.gpu, f.disk, f.max_per_machine, f.gang_min, f.spread_by, f.domain,
           f.free_cpu, f.free_memory, f.free_gpu, f.free_disk, f.free_slots,
           f.has_quota, f.quota_cpu, f.quota_memory, f.quota_gpu, f.quota_disk)::omega.plan_fact order by f.ord),
    array_agg(case
      when f.job_id is null then 'task_not_found'
      when f.duplicate then 'duplicate_task'
      when f.task_state <> 'pending' then 'task_not_pending'
      when not f.machine_exists then 'machine_not_found'
      when f.forced_reason is not null then f.forced_reason
      when f.machine_state <> 'up' then 'machine_not_up'
      when p_conflict_mode = 'coarse' and f.machine_version <> f.seen_version then 'machine_changed'
      when not omega.constraints_match(f.labels, f.taints, f.selector, f.affinity, f.tolerations) then 'constraints_not_met'
      when f.spread_by is not null and f.domain is null then 'spread'
      end order by f.ord)
  into facts, reasons
  from facts f;
  if facts is null then
    return '{}';
  end if;

  -- 2. maxPerMachine: the job's claims already on the machine plus its earlier placements in this plan.
  if exists (select from unnest(facts) f where f.max_per_machine is not null and reasons[f.ord] is null) then
    reasons := array(
      select case
        when s.r is null and s.max_per_machine is not null
          and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = s.job_id and c.machine_id = s.machine_id)
            + row_number() over (partition by s.job_id, s.machine_id, s.r is null order by s.ord) > s.max_per_machine
        then 'max_per_machine' else s.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) s
      order by s.ord);
  end if;

  -- 3. Hard spread: a job naming spreadBy may hold at most ceil(tasks / values) tasks per value of
  -- that label, counting the values of the up machines its selector and affinity allow.
  if exists (select from unnest(facts) f where f.spread_by is not null and reasons[f.ord] is null) then
    reasons := array(
      with spread_jobs as (
        select distinct f.job_id, f.spread_by, j.selector, j.affinity, f.task_count
        from unnest(facts) f
        cross join lateral (select j.selector, j.affinity from omega.jobs j where j.cell = p_cell and j.id = f.job_id offset 0) j
        where f.spread_by is not null
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
      )
      select case
        when s.r is null and s.spread_by is not null
          and coalesce((select h.n from spread_held h where h.job_id = s.job_id and h.domain = s.domain), 0)
            + row_number() over (partition by s.job_id, s.domain, s.r is null order by s.ord)
            > (select sc.cap from spread_caps sc where sc.job_id = s.job_id)
        then 'spread' else s.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) s
      order by s.ord);
  end if;

  -- 4. Capacity: running sums per machine, in plan order, over the placements still standing; then
  -- the machine's task cap (maxTasks: claims there, less the plan's evictions, plus the plan's).
  -- Quotas: running sums per (tenant, band), in plan order, over the placements still standing.
  reasons := array(
    select case
      when s.fit is null and s.has_quota and (
        sum(s.cpu) over q > s.quota_cpu or sum(s.memory) over q > s.quota_memory
        or sum(s.gpu) over q > s.quota_gpu or sum(s.disk) over q > s.quota_disk)
      then 'quota_exceeded' else s.fit end
    from (
      select f.*, case
        when f.r is null and (
          sum(f.cpu) over w > f.free_cpu or sum(f.memory) over w > f.free_memory
          or sum(f.gpu) over w > f.free_gpu or sum(f.disk) over w > f.free_disk)
        then 'insufficient_resources'
        when f.r is null and count(*) over w > f.free_slots then 'max_tasks'
        else f.r end as fit
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) f
      window w as (partition by f.machine_id, f.r is null order by f.ord)
    ) s
    window q as (partition by s.tenant_id, s.band, s.fit is null order by s.ord)
    order by s.ord);

  -- 5. Gangs: a gang job ends with either zero claims or at least gang_min.
  if exists (select from unnest(facts) f where f.gang_min is not null and reasons[f.ord] is null) then
    reasons := array(
      select case
        when g.r is null and g.gang_min is not null
          and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = g.job_id)
            + count(*) filter (where g.r is null) over (partition by g.job_id) < g.gang_min
        then 'gang_incomplete' else g.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) g
      order by g.ord);
  end if;

  -- 6. All or nothing.
  if p_transaction_mode = 'all-or-nothing' and exists (select from unnest(reasons) r where r is not null) then
    reasons := array(select coalesce(r, 'plan_aborted') from unnest(reasons) r);
  end if;

  return array(
    select row(f.ord, f.task_id, f.machine_id, f.job_id, reasons[f.ord])::omega.plan_decision
    from unnest(facts) f order by f.ord);
end $function$

;
