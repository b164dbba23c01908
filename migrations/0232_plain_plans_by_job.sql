-- A plain plan skips the vocabulary's verdicts at the cost of its jobs, not of its placements.
--
-- plan_vocabulary_verdicts returns at once when nothing in the plan or the cell uses the placement
-- vocabulary's cross-job rules. It told by joining every accepted placement to its job: a
-- 1,000-placement commit of one plain job made 1,000 job lookups to learn nothing (41 of its
-- 379 ms, scripts/commit-cost.ts 40 1000 on 10,000 machines). omega.plan_uses_vocabulary asks the
-- same question of the plan's distinct jobs (usually one or a few), and the live repellers by the
-- partial index that holds exactly them. The function is otherwise 0222's.

create function omega.plan_uses_vocabulary(p_cell text, p_decisions omega.plan_decision[])
returns boolean
language sql stable as $$
  -- Live jobs with anti-affinity: they may repel any new task.
  select exists (
      select from omega.jobs r
      where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running'))
    -- Jobs of the plan with host ports, spread or affinity.
    or exists (
      select from omega.jobs j
      where j.cell = p_cell
        and j.id = any (array(select distinct d.job_id from unnest(p_decisions) d where d.reason is null))
        and (j.ports <> '{}' or j.vocabulary ?| array['topologySpread', 'jobAffinity']))
$$;

create or replace function omega.plan_vocabulary_verdicts(p_cell text, p_decisions omega.plan_decision[], p_evicted bigint[])
returns table (task_id bigint, reason text)
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  v_repellers record;
  v_rep_ids bigint[];
  v_rep_keys text[];
  v_rep_selectors jsonb[];
  v_spread_failed bigint[];
  p record;
  t jsonb;
  v_dom text;
  v_fail text;
  -- The placements kept so far, with their machine's and job's labels, so that the in-plan checks
  -- filter arrays in memory instead of looking up rows for every earlier placement.
  acc_machines bigint[] := '{}';
  acc_jobs bigint[] := '{}';
  acc_jlabels jsonb[] := '{}';
  -- By "<topologyKey> US <domain>" for keys other than `machine` (zones and the like: few domains):
  -- the distinct labels and the ids of the jobs the plan has placed in that domain so far; and the
  -- distinct labels of every job it has placed. An in-plan check reads its domain's few entries.
  -- Per machine (a domain per placement) the arrays above serve, filtered on the machine's id.
  in_domain_labels jsonb := '{}';
  in_domain_jobs jsonb := '{}';
  placed_labels jsonb := '[]';
  -- The topology keys any term of the plan or a live repeller names: the domains to index.
  v_keys text[];
  k text;
  v_slot text;
  -- omega.domain_holds answers, by "<selector> US <topologyKey> US <domain>": the committed state
  -- does not change while the verdicts are made, and a plan asks the same question per task.
  holds jsonb := '{}';
  v_holds boolean;
  i integer;
begin
  if not omega.plan_uses_vocabulary(p_cell, p_decisions) then
    return;
  end if;
  -- Live jobs with anti-affinity: they may repel any new task.
  select coalesce(array_agg(r.id), '{}'), coalesce(array_agg(tt.term ->> 'topologyKey'), '{}'),
         coalesce(array_agg(tt.term -> 'selector'), '{}')
    into v_rep_ids, v_rep_keys, v_rep_selectors
  from omega.jobs r cross join lateral jsonb_array_elements(r.vocabulary -> 'jobAntiAffinity') tt(term)
  where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running');

  v_keys := array(
    select distinct tt.term ->> 'topologyKey'
    from unnest(p_decisions) d join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    cross join lateral jsonb_array_elements(coalesce(j.vocabulary -> 'jobAffinity', '[]')
      || coalesce(j.vocabulary -> 'jobAntiAffinity', '[]')) tt(term)
    where d.reason is null
    union select unnest(v_rep_keys));

  v_spread_failed := array(select s.task_id from omega.plan_spread_verdicts(p_cell, p_decisions, p_evicted) s);
  return query select s, 'topology_spread'::text from unnest(v_spread_failed) s;

  for p in
    select d.task_id, d.machine_id, d.job_id, j.labels, j.ports, j.vocabulary, m.labels as mlabels
    from unnest(p_decisions) d
    join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    join omega.machines m on m.cell = p_cell and m.id = d.machine_id
    where d.reason is null and d.task_id <> all (v_spread_failed)
    order by d.ord
  loop
    v_fail := null;
    if p.ports <> '{}' and (
        exists (select from omega.claim_ports cp where cp.cell = p_cell and cp.machine_id = p.machine_id
                and cp.port = any (p.ports) and cp.task_id <> all (p_evicted))
        or exists (select from unnest(acc_machines, acc_jobs) a(m, jb)
                   where a.m = p.machine_id
                     and exists (select from omega.jobs k where k.cell = p_cell and k.id = a.jb and k.ports && p.ports))) then
      v_fail := 'port_conflict';
    end if;
    -- Its own anti-affinity: no task of a matching job in the domain.
    if v_fail is null and p.vocabulary ? 'jobAntiAffinity' then
      for t in select value from jsonb_array_elements(p.vocabulary -> 'jobAntiAffinity') loop
        v_dom := omega.domain_of(p.mlabels, p.machine_id, t ->> 'topologyKey');
        continue when v_dom is null;
        v_slot := (t -> 'selector')::text || chr(31) || (t ->> 'topologyKey') || chr(31) || v_dom;
        v_holds := (holds ->> v_slot)::boolean;
        if v_holds is null then
          v_holds := omega.domain_holds(p_cell, t -> 'selector', t ->> 'topologyKey', v_dom, p_evicted);
          holds := holds || jsonb_build_object(v_slot, v_holds);
        end if;
        if v_holds or (case when t ->> 'topologyKey' = 'machine' then
             exists (select from unnest(acc_machines, acc_jlabels) a(m, jl)
                     where a.m = p.machine_id and a.jl @> (t -> 'selector'))
           else
             exists (select from jsonb_array_elements(in_domain_labels -> ((t ->> 'topologyKey') || chr(31) || v_dom)) e(jl)
                     where e.jl @> (t -> 'selector')) end) then
          v_fail := 'job_anti_affinity';
          exit;
        end if;
      end loop;
    end if;
    -- The other direction: no task of a job whose anti-affinity matches this job's labels.
    if v_fail is null and cardinality(v_rep_ids) > 0 then
      for i in 1 .. cardinality(v_rep_ids) loop
        continue when v_rep_ids[i] = p.job_id or not (p.labels @> v_rep_selectors[i]);
        v_dom := omega.domain_of(p.mlabels, p.machine_id, v_rep_keys[i]);
        continue when v_dom is null;
        if omega.job_in_domain(p_cell, v_rep_ids[i], v_rep_keys[i], v_dom, p_evicted)
           or (case when v_rep_keys[i] = 'machine' then
                 exists (select from unnest(acc_machines, acc_jobs) a(m, jb) where a.m = p.machine_id and a.jb = v_rep_ids[i])
               else
                 coalesce(in_domain_jobs -> (v_rep_keys[i] || chr(31) || v_dom), '[]') @> to_jsonb(v_rep_ids[i]) end) then
          v_fail := 'job_anti_affinity';
          exit;
        end if;
      end loop;
    end if;
    -- Its affinity: a task of a matching job in the domain — or, as Kubernetes has it, none
    -- anywhere yet and the job matches its own selector (the first of a group).
    if v_fail is null and p.vocabulary ? 'jobAffinity' then
      for t in select value from jsonb_array_elements(p.vocabulary -> 'jobAffinity') loop
        v_dom := omega.domain_of(p.mlabels, p.machine_id, t ->> 'topologyKey');
        if v_dom is null then
          v_fail := 'job_affinity';
          exit;
        end if;
        v_slot := (t -> 'selector')::text || chr(31) || (t ->> 'topologyKey') || chr(31) || v_dom;
        v_holds := (holds ->> v_slot)::boolean;
        if v_holds is null then
          v_holds := omega.domain_holds(p_cell, t -> 'selector', t ->> 'topologyKey', v_dom, p_evicted);
          holds := holds || jsonb_build_object(v_slot, v_holds);
        end if;
        continue when v_holds or (case when t ->> 'topologyKey' = 'machine' then
            exists (select from unnest(acc_machines, acc_jlabels) a(m, jl)
                    where a.m = p.machine_id and a.jl @> (t -> 'selector'))
          else
            exists (select from jsonb_array_elements(in_domain_labels -> ((t ->> 'topologyKey') || chr(31) || v_dom)) e(jl)
                    where e.jl @> (t -> 'selector')) end);
        continue when p.labels @> (t -> 'selector')
          and not exists (select from omega.jobs k join omega.claims c on c.cell = k.cell and c.job_id = k.id
                          where k.cell = p_cell and k.labels @> (t -> 'selector') and c.task_id <> all (p_evicted)
                            and (t -> 'selector' = '{}' or (k.labels <> '{}' and k.state in ('pending', 'placed', 'running'))))
          and not exists (select from jsonb_array_elements(placed_labels) e(jl) where e.jl @> (t -> 'selector'));
        v_fail := 'job_affinity';
        exit;
      end loop;
    end if;
    if v_fail is null then
      acc_machines := acc_machines || p.machine_id;
      acc_jobs := acc_jobs || p.job_id;
      acc_jlabels := acc_jlabels || p.labels;
      if not placed_labels @> jsonb_build_array(p.labels) then
        placed_labels := placed_labels || jsonb_build_array(p.labels);
      end if;
      foreach k in array v_keys loop
        continue when k = 'machine';
        v_dom := omega.domain_of(p.mlabels, p.machine_id, k);
        continue when v_dom is null;
        v_slot := k || chr(31) || v_dom;
        if not coalesce(in_domain_labels -> v_slot, '[]') @> jsonb_build_array(p.labels) then
          in_domain_labels := jsonb_set(in_domain_labels, array[v_slot],
            coalesce(in_domain_labels -> v_slot, '[]') || jsonb_build_array(p.labels));
        end if;
        if not coalesce(in_domain_jobs -> v_slot, '[]') @> to_jsonb(p.job_id) then
          in_domain_jobs := jsonb_set(in_domain_jobs, array[v_slot],
            coalesce(in_domain_jobs -> v_slot, '[]') || to_jsonb(p.job_id));
        end if;
      end loop;
    else
      task_id := p.task_id;
      reason := v_fail;
      return next;
    end if;
  end loop;
end $$;
