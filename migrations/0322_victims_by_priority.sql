-- The preemption probe answers "nothing to evict" from an index, without reading the candidates'
-- claims.
--
-- In a full cell every arriving job that fits nowhere asks omega.victims_on (0300) for the claims
-- it may evict on its candidate machines (32 of them): the claims of those machines read and all
-- but the lower-priority ones dropped. In `omega bench burst` 80 % of the arrivals are batch jobs
-- (150) in a cell full of batch and production claims: nothing below them to evict, yet each probe
-- read a few thousand claims (8,661 probes, 664 µs and 5.7 s of the run's database time).
--
-- Claims are now indexed by (cell, priority), and the probe first asks that index whether the cell
-- holds any claim the task may evict at all: one index descent when it holds none. The index's
-- upkeep is one more entry a claim.
create index claims_by_priority on omega.claims (cell, priority);

create or replace function omega.victims_on(p_cell text, p_machine_ids bigint[], p_priority integer)
returns table (machine_id bigint, task_id bigint, job_id bigint, priority integer, cpu bigint, memory bigint,
  gpu bigint, disk bigint, gang_min integer, job_claims integer)
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  -- (may_preempt evicts only what is strictly lower: the index starts from the lowest.)
  if not exists (select from omega.claims c
                 where c.cell = p_cell and c.priority < p_priority and omega.may_preempt(c.priority, p_priority)) then
    return;
  end if;
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
