-- Job anti-affinity across machines holds under concurrent commits (issue 11, SPEC invariant 4).
--
-- A commit locks the machines it places on, so two commits never judge the same machine at once.
-- But anti-affinity with a topologyKey other than `machine` spans machines: one commit placed a
-- task labelled app=db on one machine of zone a while another placed a task repelling app=db on
-- another machine of zone a; each verdict read the state before the other committed, and both
-- passed (the race test caught it with its workload's anti-affinity back in).
--
-- plan_lock now also takes, after its row locks, a transaction advisory lock per (cell,
-- topologyKey, domain) that a placement of the plan touches through anti-affinity: the domains of
-- its own jobAntiAffinity terms, and of the terms of live jobs whose selector matches its labels.
-- Both sides of a conflict name the same (key, domain) — the repeller's — so the second waits for
-- the first, and its verdicts (a later statement of commit_plan, a fresh snapshot) see the first's
-- claims. Taken in key order, after every other lock of plan_lock, so no two commits wait on each
-- other in a cycle. `machine` needs none (the machine's row lock does it). A cell where no live job
-- has anti-affinity pays one probe of the partial index jobs_repelling.
--
-- commit_move passes its task with [from, to]: the lock is taken for the task's own terms and the
-- target machine as well (the move lock serialises moves among themselves).

create function omega.anti_affinity_lock_keys(p_cell text, p_task_ids bigint[], p_machine_ids bigint[])
returns setof bigint
language sql stable as $$
  with placed as (
    -- A move (commit_move) passes its one task with [from, to]: it is placed on `to`. Arrays of a
    -- commit_plan have one machine per task.
    select u.task_id, u.machine_id from unnest(p_task_ids, p_machine_ids) as u(task_id, machine_id)
    where cardinality(p_task_ids) = cardinality(p_machine_ids)
    union all
    select p_task_ids[1], p_machine_ids[2] where cardinality(p_task_ids) = 1 and cardinality(p_machine_ids) = 2
  ), placed_jobs as (
    select j.labels, j.vocabulary, m.labels as mlabels, m.id as machine_id, j.id as job_id
    from placed p
    join omega.tasks t on t.cell = p_cell and t.id = p.task_id
    join omega.jobs j on j.cell = p_cell and j.id = t.job_id
    join omega.machines m on m.cell = p_cell and m.id = p.machine_id
  ), repellers as (
    select r.id, tt.term from omega.jobs r cross join lateral jsonb_array_elements(r.vocabulary -> 'jobAntiAffinity') tt(term)
    where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running')
  ), domains as (
    select t ->> 'topologyKey' as key, omega.domain_of(pj.mlabels, pj.machine_id, t ->> 'topologyKey') as dom
    from placed_jobs pj cross join lateral jsonb_array_elements(coalesce(pj.vocabulary -> 'jobAntiAffinity', '[]')) t
    union
    select r.term ->> 'topologyKey', omega.domain_of(pj.mlabels, pj.machine_id, r.term ->> 'topologyKey')
    from placed_jobs pj join repellers r on r.id <> pj.job_id and pj.labels @> (r.term -> 'selector')
  )
  select distinct hashtextextended(format('omega.anti-affinity:%s:%s:%s', p_cell, d.key, d.dom), 0) as k
  from domains d where d.key <> 'machine' and d.dom is not null
  order by 1
$$;

create or replace function omega.plan_lock(p_cell text, p_task_ids bigint[], p_machine_ids bigint[], p_victim_ids bigint[])
returns bigint[]
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  v_job_ids bigint[];
  v_locked bigint[];
  k bigint;
begin
  perform pg_advisory_xact_lock_shared(omega.quota_lock_key(p_cell));
  v_job_ids := array(
    select t.job_id from omega.tasks t where t.cell = p_cell and t.id = any (p_task_ids)
    union select c.job_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_victim_ids));
  perform from omega.jobs j where j.cell = p_cell and j.id = any (v_job_ids) order by j.id for update;
  v_locked := array(select m.id from omega.machines m where m.cell = p_cell and m.id = any (p_machine_ids)
                    order by m.id for update skip locked);
  perform from omega.quotas q
  where q.cell = p_cell
    and q.tenant_id in (select j.tenant_id from omega.jobs j where j.cell = p_cell and j.id = any (v_job_ids))
  order by q.tenant_id, q.band for update;
  -- Anti-affinity domains (see the top), last, in key order.
  if exists (select from omega.jobs r where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity'
             and r.state in ('pending', 'placed', 'running')) then
    for k in select omega.anti_affinity_lock_keys(p_cell, p_task_ids, p_machine_ids) loop
      perform pg_advisory_xact_lock(k);
    end loop;
  end if;
  -- The ones that exist but were not locked (a missing machine is machine_not_found, not busy).
  return array(select m.id from omega.machines m where m.cell = p_cell and m.id = any (p_machine_ids)
               except select unnest(v_locked));
end $$;
