-- A commit step for cohorts (0141_quota_cohorts.sql): placements that would leave a cohort lending
-- more than its members can lend are refused as `cohort_exhausted`, in plan order, counting the
-- claims the plan evicts as gone. The per-member ceiling (nominal + borrowing limit) stays where it
-- was, in decide_plan's quota step; this is the part that depends on the other members.
--
-- Members' usage is read under a lock per cohort (transaction-scoped advisory, taken in name
-- order after every row lock of plan_lock): usage of a cohort grows only through commits, and
-- every commit placing work of a member takes it, so the usage read here cannot grow under this
-- commit. (Releases only shrink usage, which only adds slack; put_quota excludes commits through
-- the cell's quota lock.) A cell without cohorts costs one index probe.

-- The rule of reclaim (SPEC "Sharing"): a claim that borrows within a cohort may be evicted for
-- the work of another member of the same cohort and band, of equal or higher priority — and never
-- production for production (SPEC invariant 5 stands). The victim's tenant must be borrowing now.
create function omega.may_reclaim(p_cell text, p_victim_tenant bigint, p_victim_priority integer,
  p_preemptor_tenant bigint, p_preemptor_priority integer) returns boolean
language sql stable as $$
  select p_victim_tenant <> p_preemptor_tenant
    and p_victim_priority <= p_preemptor_priority
    and not (p_victim_priority >= 200 and p_preemptor_priority >= 200)
    and omega.band(p_victim_priority) = omega.band(p_preemptor_priority)
    and exists (
      select from omega.quotas vq
      join omega.quotas pq on pq.cell = vq.cell and pq.band = vq.band and pq.cohort = vq.cohort
      where vq.cell = p_cell and vq.tenant_id = p_victim_tenant and vq.band = omega.band(p_victim_priority)
        and pq.tenant_id = p_preemptor_tenant
        and (vq.used_cpu > vq.nominal_cpu or vq.used_memory > vq.nominal_memory
             or vq.used_gpu > vq.nominal_gpu or vq.used_disk > vq.nominal_disk))
$$;

create function omega.cohort_lock_key(p_cell text, p_band text, p_cohort text) returns bigint
language sql immutable parallel safe as $$
  select hashtextextended(format('omega.cohort:%s:%s:%s', p_cell, p_band, p_cohort), 0)
$$;

create function omega.plan_cohort_verdicts(p_cell text, p_task_ids bigint[], p_victim_ids bigint[], p_forced_ids bigint[])
returns table (task_id bigint, reason text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  v_cohorts text[];
  v_bands text[];
begin
  if not exists (select from omega.quotas q where q.cell = p_cell and q.cohort is not null) then
    return;
  end if;
  select coalesce(array_agg(x.band order by x.band, x.cohort), '{}'), coalesce(array_agg(x.cohort order by x.band, x.cohort), '{}')
    into v_bands, v_cohorts
  from (select distinct q.band, q.cohort
        from unnest(p_task_ids) as u(task_id)
        join omega.tasks t on t.cell = p_cell and t.id = u.task_id
        join omega.jobs j on j.cell = p_cell and j.id = t.job_id
        join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = omega.band(j.priority)
        where q.cohort is not null) x;
  if cardinality(v_cohorts) = 0 then
    return;
  end if;
  perform pg_advisory_xact_lock(omega.cohort_lock_key(p_cell, c.band, c.cohort))
  from unnest(v_bands, v_cohorts) with ordinality as c(band, cohort, ord) order by c.ord;

  return query
  with placed as (
    select u.ord, u.task_id, j.tenant_id, q.band, q.cohort, j.cpu, j.memory, j.gpu, j.disk
    from unnest(p_task_ids) with ordinality as u(task_id, ord)
    join omega.tasks t on t.cell = p_cell and t.id = u.task_id
    join omega.jobs j on j.cell = p_cell and j.id = t.job_id
    join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = omega.band(j.priority)
    where q.cohort is not null and u.task_id <> all (p_forced_ids)
  ),
  -- What the plan's evictions give back to their tenants' quotas.
  credit as (
    select c.tenant_id, omega.band(c.priority) as band,
      sum(c.cpu) as cpu, sum(c.memory) as memory, sum(c.gpu) as gpu, sum(c.disk) as disk
    from omega.claims c where c.cell = p_cell and c.task_id = any (p_victim_ids)
    group by 1, 2
  ),
  members as (
    select m.tenant_id, m.band, m.cohort,
      m.used_cpu - coalesce(cr.cpu, 0) as u_cpu, m.used_memory - coalesce(cr.memory, 0) as u_memory,
      m.used_gpu - coalesce(cr.gpu, 0) as u_gpu, m.used_disk - coalesce(cr.disk, 0) as u_disk,
      m.nominal_cpu, m.nominal_memory, m.nominal_gpu, m.nominal_disk,
      m.lending_limit_cpu, m.lending_limit_memory, m.lending_limit_gpu, m.lending_limit_disk
    from unnest(v_bands, v_cohorts) as k(band, cohort)
    join omega.quotas m on m.cell = p_cell and m.band = k.band and m.cohort = k.cohort
    left join credit cr on cr.tenant_id = m.tenant_id and cr.band = m.band
  ),
  slack as (
    select m.band, m.cohort,
      sum(omega.cohort_slack(m.u_cpu, m.nominal_cpu, m.lending_limit_cpu)) as cpu,
      sum(omega.cohort_slack(m.u_memory, m.nominal_memory, m.lending_limit_memory)) as memory,
      sum(omega.cohort_slack(m.u_gpu, m.nominal_gpu, m.lending_limit_gpu)) as gpu,
      sum(omega.cohort_slack(m.u_disk, m.nominal_disk, m.lending_limit_disk)) as disk
    from members m group by m.band, m.cohort
  ),
  -- Each placement's member, with that member's use once it and its earlier placements are made.
  grown as (
    select p.ord, p.task_id, p.band, p.cohort, p.cpu, p.memory, p.gpu, p.disk,
      m.nominal_cpu, m.nominal_memory, m.nominal_gpu, m.nominal_disk,
      m.lending_limit_cpu, m.lending_limit_memory, m.lending_limit_gpu, m.lending_limit_disk,
      m.u_cpu + sum(p.cpu) over w as g_cpu, m.u_memory + sum(p.memory) over w as g_memory,
      m.u_gpu + sum(p.gpu) over w as g_gpu, m.u_disk + sum(p.disk) over w as g_disk
    from placed p join members m on m.tenant_id = p.tenant_id and m.band = p.band
    window w as (partition by p.tenant_id, p.band order by p.ord)
  ),
  -- What each placement costs its cohort's slack (nothing while its member stays within the part
  -- of its quota it does not lend), summed in plan order per cohort.
  cost as (
    select g.ord, g.task_id, g.band, g.cohort,
      sum(omega.cohort_slack((g.g_cpu - g.cpu)::numeric, g.nominal_cpu, g.lending_limit_cpu)
          - omega.cohort_slack(g.g_cpu::numeric, g.nominal_cpu, g.lending_limit_cpu)) over w as cpu,
      sum(omega.cohort_slack((g.g_memory - g.memory)::numeric, g.nominal_memory, g.lending_limit_memory)
          - omega.cohort_slack(g.g_memory::numeric, g.nominal_memory, g.lending_limit_memory)) over w as memory,
      sum(omega.cohort_slack((g.g_gpu - g.gpu)::numeric, g.nominal_gpu, g.lending_limit_gpu)
          - omega.cohort_slack(g.g_gpu::numeric, g.nominal_gpu, g.lending_limit_gpu)) over w as gpu,
      sum(omega.cohort_slack((g.g_disk - g.disk)::numeric, g.nominal_disk, g.lending_limit_disk)
          - omega.cohort_slack(g.g_disk::numeric, g.nominal_disk, g.lending_limit_disk)) over w as disk
    from grown g
    window w as (partition by g.band, g.cohort order by g.ord)
  )
  select c.task_id, 'cohort_exhausted'::text
  from cost c join slack s on s.band = c.band and s.cohort = c.cohort
  where c.cpu > greatest(s.cpu, 0) or c.memory > greatest(s.memory, 0)
     or c.gpu > greatest(s.gpu, 0) or c.disk > greatest(s.disk, 0);
end $$;
