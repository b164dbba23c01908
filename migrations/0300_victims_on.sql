-- The worker's preemption probe as a function: the claims a task of p_priority may evict on
-- p_machine_ids (omega.may_preempt: strictly lower, never production by production), with what a
-- gang victim's job can spare (its claims, counted only for gangs).
--
-- In a full cell nearly every arriving job that fits nowhere reads its candidate machines' victims
-- (the burst bench: 7,000–8,000 reads for 9,000 jobs). Sent by the worker as a statement of its
-- own, it was planned at every call (4.1–4.5 s of planning in 30 s, against 7.4–7.6 s of running
-- it); prepared, PostgreSQL still chose a custom plan for most calls (5,775 plans in 7,874 calls,
-- 3.1 s) though the generic one runs as fast. A function pins the generic plan, and the rule is
-- omega.may_preempt's rather than a copy with its literal 200.
create function omega.victims_on(p_cell text, p_machine_ids bigint[], p_priority integer)
returns table (machine_id bigint, task_id bigint, job_id bigint, priority integer, cpu bigint, memory bigint,
  gpu bigint, disk bigint, gang_min integer, job_claims integer)
language plpgsql stable set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
begin
  return query
  with victims as materialized (
    select c.* from omega.claims c
    where c.cell = p_cell and c.machine_id = any (p_machine_ids) and omega.may_preempt(c.priority, p_priority)
  ), jobs as (
    select j.id, j.gang_min,
      case when j.gang_min is null then 0
           else (select count(*)::int from omega.claims c where c.cell = p_cell and c.job_id = j.id) end as job_claims
    from omega.jobs j where j.cell = p_cell and j.id in (select v.job_id from victims v)
  )
  select v.machine_id, v.task_id, v.job_id, v.priority, v.cpu::bigint, v.memory::bigint, v.gpu::bigint,
    v.disk::bigint, j.gang_min::integer, j.job_claims
  from victims v join jobs j on j.id = v.job_id;
end $$;
call omega.grant_entry_point('victims_on', '{omega_scheduler}');
