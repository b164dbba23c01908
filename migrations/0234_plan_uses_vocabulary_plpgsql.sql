-- omega.plan_uses_vocabulary (0232) in PL/pgSQL, which keeps its plans. As a SQL function with
-- sub-selects it could not be inlined, so PostgreSQL parsed and planned its body at every call:
-- 2.0 ms a commit in the latency bench, more than the verdicts it spares a plain plan.
create or replace function omega.plan_uses_vocabulary(p_cell text, p_decisions omega.plan_decision[])
returns boolean
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  -- Live jobs with anti-affinity: they may repel any new task.
  return exists (
      select from omega.jobs r
      where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running'))
    -- Jobs of the plan with host ports, spread or affinity.
    or exists (
      select from omega.jobs j
      where j.cell = p_cell
        and j.id = any (array(select distinct d.job_id from unnest(p_decisions) d where d.reason is null))
        and (j.ports <> '{}' or j.vocabulary ?| array['topologySpread', 'jobAffinity']));
end $$;
