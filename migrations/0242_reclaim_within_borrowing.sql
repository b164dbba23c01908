-- A plan reclaims from a cohort member no more than that member borrows.
--
-- plan_victim_verdicts (0144) judged each reclaim victim on the quotas as they were before the
-- plan: a member borrowing one core, with two one-core claims, could lose both to one plan, the
-- second giving nothing back (SPEC "Sharing": borrowed claims are preempted, not a member's own).
-- The planner stopped proposing that (src/placement/reclaim.ts shares what members borrow between
-- the jobs of a plan); the commit, the authority, now refuses it too. Victims admitted only as
-- reclaims (omega.may_preempt would not allow them) are taken in plan order, and each must find
-- its member still borrowing, in some dimension, after the plan's earlier reclaims from it;
-- otherwise its preemptor is refused with victim_not_preemptible, as for any victim it may not take.

create or replace function omega.plan_victim_verdicts(p_cell text, p_task_ids bigint[], p_machine_ids bigint[],
  p_victim_ids bigint[], p_victim_for bigint[])
returns table (for_task bigint, reason text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  return query
  with v as (
    select x.victim_id, x.for_task, x.ord, c.task_id is not null as held, c.machine_id,
      c.priority as victim_priority, c.cpu, c.memory, c.gpu, c.disk,
      target.machine_id as target, pj.priority as preemptor_priority, c.tenant_id as victim_tenant,
      pj.tenant_id as preemptor_tenant,
      row_number() over (partition by x.victim_id order by x.ord) > 1 as duplicate
    from unnest(p_victim_ids, p_victim_for) with ordinality as x(victim_id, for_task, ord)
    left join omega.claims c on c.cell = p_cell and c.task_id = x.victim_id
    left join lateral (select u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
                       where u.task_id = x.for_task limit 1) target on true
    left join omega.tasks pt on pt.cell = p_cell and pt.id = x.for_task
    left join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
  ), judged as (
    select v.*, case
        when v.target is null or v.preemptor_priority is null or v.duplicate then 'victim_invalid'
        when not v.held then 'victim_gone'
        when v.machine_id <> v.target then 'victim_invalid'
        when omega.may_preempt(v.victim_priority, v.preemptor_priority) then null
        when not omega.may_reclaim(p_cell, v.victim_tenant, v.victim_priority, v.preemptor_tenant, v.preemptor_priority)
          then 'victim_not_preemptible'
        else 'reclaim'
      end as verdict
    from v
  ), reclaims as (
    -- What the plan's earlier reclaims took from the same member, in plan order.
    select r.for_task, r.victim_tenant, omega.band(r.victim_priority) as band,
      coalesce(sum(r.cpu) over w, 0) as cpu, coalesce(sum(r.memory) over w, 0) as memory,
      coalesce(sum(r.gpu) over w, 0) as gpu, coalesce(sum(r.disk) over w, 0) as disk
    from judged r where r.verdict = 'reclaim'
    window w as (partition by r.victim_tenant, omega.band(r.victim_priority) order by r.ord
                 rows between unbounded preceding and 1 preceding)
  ), verdicts as (
    select j.for_task, j.verdict as reason from judged j where j.verdict <> 'reclaim'
    union all
    select r.for_task, 'victim_not_preemptible'
    from reclaims r
    join omega.quotas q on q.cell = p_cell and q.tenant_id = r.victim_tenant and q.band = r.band
    where not (q.used_cpu - r.cpu > q.nominal_cpu or q.used_memory - r.memory > q.nominal_memory
               or q.used_gpu - r.gpu > q.nominal_gpu or q.used_disk - r.disk > q.nominal_disk)
  )
  select vd.for_task, min(vd.reason) from verdicts vd where vd.reason is not null group by vd.for_task;
end $$;
