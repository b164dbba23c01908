-- plan_evict (0023) naming reclaims (SPEC "Sharing": reason `reclaim`): a victim evicted as a
-- borrowed claim its lender takes back gets the reason "reclaim: …" (its event: kind `preempted`,
-- 0146). Changed: the reclaimed victims are found before the release, and the reason's CASE has
-- one more branch first.

create or replace function omega.plan_evict(p_cell text, p_victim_ids bigint[], p_victim_for bigint[]) returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  s text;
  reclaimed bigint[];
begin
  -- Reclaims, told before the release changes what their tenants borrow.
  reclaimed := array(
    select e.v from unnest(p_victim_ids, p_victim_for) as e(v, f)
    join omega.claims vc on vc.cell = p_cell and vc.task_id = e.v
    join omega.tasks pt on pt.cell = p_cell and pt.id = e.f
    join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
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
      join omega.tasks pt on pt.cell = p_cell and pt.id = e.f
      join omega.jobs pj on pj.cell = p_cell and pj.id = pt.job_id
      join omega.tasks vt on vt.cell = p_cell and vt.id = e.v
      join omega.jobs vj on vj.cell = p_cell and vj.id = vt.job_id
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
end $$;
