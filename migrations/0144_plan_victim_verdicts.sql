-- plan_victim_verdicts (0023) with reclaim (SPEC "Sharing"): a victim the preemptor may not preempt
-- by priority is still valid when it is a borrowed claim its cohort may reclaim (omega.may_reclaim,
-- 0142). Changed: the victim's and the preemptor's tenants are read, and the may_preempt verdict
-- also asks may_reclaim.

create or replace function omega.plan_victim_verdicts(p_cell text, p_task_ids bigint[], p_machine_ids bigint[],
  p_victim_ids bigint[], p_victim_for bigint[])
returns table (for_task bigint, reason text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  return query
  with v as (
    select x.victim_id, x.for_task, c.task_id is not null as held, c.machine_id, c.priority as victim_priority,
      target.machine_id as target, pj.priority as preemptor_priority, c.tenant_id as victim_tenant,
      pj.tenant_id as preemptor_tenant,
      row_number() over (partition by x.victim_id order by x.ord) > 1 as duplicate
    from unnest(p_victim_ids, p_victim_for) with ordinality as x(victim_id, for_task, ord)
    left join omega.claims c on c.cell = p_cell and c.task_id = x.victim_id
    left join lateral (select u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
                       where u.task_id = x.for_task limit 1) target on true
    left join omega.tasks pt on pt.cell = p_cell and pt.id = x.for_task
    left join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
  ), verdicts as (
    select v.for_task, case
        when v.target is null or v.preemptor_priority is null or v.duplicate then 'victim_invalid'
        when not v.held then 'victim_gone'
        when v.machine_id <> v.target then 'victim_invalid'
        when not omega.may_preempt(v.victim_priority, v.preemptor_priority)
          and not omega.may_reclaim(p_cell, v.victim_tenant, v.victim_priority, v.preemptor_tenant, v.preemptor_priority)
          then 'victim_not_preemptible'
      end as reason
    from v
  )
  select vd.for_task, min(vd.reason) from verdicts vd where vd.reason is not null group by vd.for_task;
end $$;
