-- The preemption path and the release of claims read their rows by key, whatever the statistics
-- say (0250 did the same for a plain commit).
--
-- On statistics that do not yet know the cell, each lookup of a victim's claim, task or job by
-- `cell = $1 and id = any (...)` or by a join on the id scanned the cell by an index on `cell`
-- alone: a commit that preempted one task in a cell of 3,000 claims read 15,002 claim rows, in
-- six statements (plan_victim_verdicts, plan_gang_breakers, plan_evict twice, release_claims
-- twice), and 3,014 job rows and 1,000 machine rows to update the victims' job and machine; and
-- release_claims, which every finished task goes through, read the cell's claims to delete one.
-- "A full cell stays cheap, not a re-read of the cell's claims" held only on fresh statistics.
--
-- Each lookup is a lateral subquery per key that `offset 0` keeps an index probe (as in 0240 and
-- 0250); where a statement writes the rows it looked up (the claims deleted, the machines and
-- jobs given their room and tasks back, the victims requeued) it reaches them by the `ctid` just
-- found, a tuple id, not by a join the planner could make a scan. Locks keep their order
-- (machines by id). Otherwise the functions are 0242's, 0023's, 0146's and 0080's.

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
    left join lateral (select * from omega.claims c where c.cell = p_cell and c.task_id = x.victim_id offset 0) c on true
    left join lateral (select u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
                       where u.task_id = x.for_task limit 1) target on true
    left join lateral (select pt.job_id from omega.tasks pt where pt.cell = p_cell and pt.id = x.for_task offset 0) pt on true
    left join lateral (select pj.priority, pj.tenant_id from omega.jobs pj where pj.cell = p_cell and pj.id = pt.job_id offset 0) pj on true
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

create or replace function omega.plan_gang_breakers(p_cell text, p_victim_ids bigint[], p_victim_for bigint[])
returns setof bigint
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  return query
  select distinct e.f
  from unnest(p_victim_ids, p_victim_for) as e(v, f)
  cross join lateral (select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = e.v offset 0) c
  cross join lateral (select j.id, j.gang_min from omega.jobs j where j.cell = p_cell and j.id = c.job_id offset 0) j
  where j.gang_min is not null
    and (select count(*) from omega.claims c2 where c2.cell = p_cell and c2.job_id = j.id)
      - (select count(*) from unnest(p_victim_ids) as u(id) where u.id in (
           select c3.task_id from omega.claims c3 where c3.cell = p_cell and c3.job_id = j.id))
      between 1 and j.gang_min - 1;
end $$;

create or replace function omega.plan_evict(p_cell text, p_victim_ids bigint[], p_victim_for bigint[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  s text;
  reclaimed bigint[];
begin
  -- Reclaims, told before the release changes what their tenants borrow.
  reclaimed := array(
    select e.v from unnest(p_victim_ids, p_victim_for) as e(v, f)
    cross join lateral (select vc.tenant_id, vc.priority from omega.claims vc
                        where vc.cell = p_cell and vc.task_id = e.v offset 0) vc
    cross join lateral (select pt.job_id from omega.tasks pt where pt.cell = p_cell and pt.id = e.f offset 0) pt
    cross join lateral (select pj.tenant_id, pj.priority from omega.jobs pj
                        where pj.cell = p_cell and pj.id = pt.job_id offset 0) pj
    where vc.tenant_id <> pj.tenant_id
      and omega.may_reclaim(p_cell, vc.tenant_id, vc.priority, pj.tenant_id, pj.priority));
  perform omega.release_claims(p_cell, p_victim_ids);
  for s in
    with requeued as (
      update omega.tasks t
      set state = 'pending', pending_since = now(),
          reason = case when e.v = any (reclaimed) then 'reclaim: its cohort''s lender needs the quota back'
                        when vj.tenant_id = pj.tenant_id then format('preempted by job %s (task %s)', pt.job_id, e.f)
                        else format('preempted by a job of priority %s', pj.priority) end
      from unnest(p_victim_ids, p_victim_for) as e(v, f)
      cross join lateral (select pt.job_id from omega.tasks pt where pt.cell = p_cell and pt.id = e.f offset 0) pt
      cross join lateral (select pj.tenant_id, pj.priority from omega.jobs pj
                          where pj.cell = p_cell and pj.id = pt.job_id offset 0) pj
      cross join lateral (select vt.ctid as row_id, vt.job_id from omega.tasks vt
                          where vt.cell = p_cell and vt.id = e.v offset 0) vt
      cross join lateral (select vj.tenant_id from omega.jobs vj where vj.cell = p_cell and vj.id = vt.job_id offset 0) vj
      -- By the row just found (a concurrent update is followed to its new version and re-checked).
      where t.ctid = vt.row_id and t.state in ('placed', 'running')
      returning t.job_id
    ), per_job as (
      select r.job_id, count(*) as n from requeued r group by r.job_id
    ), job_updates as (
      update omega.jobs j set pending_count = j.pending_count + pj.n, state = 'pending', blocked = false,
        updated_at = now()
      from (select pj.*, x.ctid as row_id from per_job pj
            cross join lateral (select x.ctid from omega.jobs x where x.cell = p_cell and x.id = pj.job_id offset 0) x) pj
      -- By the row just found (plan_lock locked it).
      where j.ctid = pj.row_id
      returning j.scheduler
    )
    select distinct ju.scheduler from job_updates ju
  loop
    perform omega.wake(p_cell, s);
  end loop;
end $$;

create or replace function omega.release_claims(p_cell text, p_task_ids bigint[]) returns integer
language plpgsql as $$
declare
  released integer;
  freed bigint[];
begin
  perform from (select distinct c.machine_id
                from unnest(p_task_ids) as u(id)
                cross join lateral (select c.machine_id from omega.claims c
                                    where c.cell = p_cell and c.task_id = u.id offset 0) c
                order by 1) k
  cross join lateral (select from omega.machines m where m.cell = p_cell and m.id = k.machine_id for update) m;
  with gone as (
    -- By the rows just found by key (claims are never updated: the row found is the row, or gone).
    delete from omega.claims c
    where c.ctid = any (array(
        select x.ctid from unnest(p_task_ids) as u(id)
        cross join lateral (select c.ctid from omega.claims c where c.cell = p_cell and c.task_id = u.id offset 0) x))
    returning c.*
  ), per_machine as (
    select machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk, count(*) as n
    from gone group by machine_id
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu - pm.cpu, used_memory = m.used_memory - pm.memory,
        used_gpu = m.used_gpu - pm.gpu, used_disk = m.used_disk - pm.disk, tasks = m.tasks - pm.n
    from (select pm.*, x.ctid as row_id from per_machine pm
          cross join lateral (select x.ctid from omega.machines x where x.cell = p_cell and x.id = pm.machine_id offset 0) x) pm
    -- By the row just found (locked above).
    where m.ctid = pm.row_id
    returning m.id
  )
  select (select count(*) from gone), array(select id from machine_updates) into released, freed;
  if cardinality(freed) > 0 then
    perform set_config('omega.freed_machines',
      concat_ws(',', nullif(current_setting('omega.freed_machines', true), ''), array_to_string(freed, ',')), true);
  end if;
  return released;
end $$;
