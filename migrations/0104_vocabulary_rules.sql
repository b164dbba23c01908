-- The commit re-checks the placement vocabulary's hard rules beyond one machine's labels
-- (issue 11), so that no scheduler can break them (SPEC invariant 4):
--   topology_spread     a DoNotSchedule topologySpread term: placing here would make the job's
--                       (most - least) tasks over the eligible domains exceed maxSkew
--   job_anti_affinity   a task of a matching job holds a claim in the domain — or the new task's
--                       labels match the anti-affinity of a job holding one there (both directions)
--   job_affinity        no task of a matching job holds a claim in the domain
--   port_conflict       another claim on the machine holds one of the job's host ports
--                       (claim_ports' primary key is the backstop; this gives a verdict instead
--                       of an aborted plan)
--
-- A new step, plan_vocabulary_verdicts, judges the placements decide_plan accepted, in plan order,
-- counting the earlier ones it kept; decide_plan_checked runs decide_plan again with its refusals
-- forced (a gang losing a task, all-or-nothing, the spread counts) until nothing more is refused.
-- A plan whose jobs use none of it, in a cell where no job has anti-affinity, costs one probe of
-- a partial index. commit_plan calls decide_plan_checked in place of decide_plan (0105).

-- The domain of a machine for a topology key: its value of that label, or the machine itself
-- (its id) for the key `machine`; null when the machine has no such label.
create function omega.domain_of(p_labels jsonb, p_machine_id bigint, p_key text) returns text
language sql immutable parallel safe as $$
  select case when p_key = 'machine' then p_machine_id::text else p_labels ->> p_key end
$$;

-- Whether a task of a live job matching p_selector holds a claim (not one of p_evicted) in domain
-- p_domain of p_key. A non-empty selector only matches labelled jobs: the partial GIN index.
create function omega.domain_holds(p_cell text, p_selector jsonb, p_key text, p_domain text, p_evicted bigint[])
returns boolean
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  if p_key = 'machine' then
    return exists (
      select from omega.claims c join omega.jobs k on k.cell = c.cell and k.id = c.job_id
      where c.cell = p_cell and c.machine_id = p_domain::bigint and c.task_id <> all (p_evicted)
        and k.labels @> p_selector);
  elsif p_selector = '{}' then
    return exists (
      select from omega.machines mm join omega.claims c on c.cell = mm.cell and c.machine_id = mm.id
      where mm.cell = p_cell and mm.labels ->> p_key = p_domain and c.task_id <> all (p_evicted));
  end if;
  return exists (
    select from omega.jobs k
    join omega.claims c on c.cell = k.cell and c.job_id = k.id
    join omega.machines mm on mm.cell = c.cell and mm.id = c.machine_id
    where k.cell = p_cell and k.labels @> p_selector and k.labels <> '{}' and k.state in ('pending', 'placed', 'running')
      and c.task_id <> all (p_evicted) and mm.labels ->> p_key = p_domain);
end $$;

-- Whether job p_job_id holds a claim (not one of p_evicted) in domain p_domain of p_key.
create function omega.job_in_domain(p_cell text, p_job_id bigint, p_key text, p_domain text, p_evicted bigint[])
returns boolean
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
begin
  if p_key = 'machine' then
    return exists (select from omega.claims c where c.cell = p_cell and c.machine_id = p_domain::bigint
                   and c.job_id = p_job_id and c.task_id <> all (p_evicted));
  end if;
  return exists (
    select from omega.claims c join omega.machines mm on mm.cell = c.cell and mm.id = c.machine_id
    where c.cell = p_cell and c.job_id = p_job_id and c.task_id <> all (p_evicted) and mm.labels ->> p_key = p_domain);
end $$;

-- DoNotSchedule topology spread, per job and term, over its accepted placements in plan order.
create function omega.plan_spread_verdicts(p_cell text, p_decisions omega.plan_decision[], p_evicted bigint[])
returns table (task_id bigint, reason text)
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  j record;
  t jsonb;
  p record;
  r record;
  v_key text;
  v_skew integer;
  v_doms text[];
  v_counts integer[];
  v_min integer;
  v_at_min integer;
  v_failed bigint[] := '{}';
  i integer;
begin
  for j in
    select distinct k.id, k.selector, k.affinity, k.vocabulary -> 'topologySpread' as terms
    from unnest(p_decisions) d join omega.jobs k on k.cell = p_cell and k.id = d.job_id
    where d.reason is null and k.vocabulary ? 'topologySpread'
  loop
    for t in select value from jsonb_array_elements(j.terms)
             where coalesce(value ->> 'whenUnsatisfiable', 'DoNotSchedule') = 'DoNotSchedule' loop
      v_key := t ->> 'topologyKey';
      v_skew := (t ->> 'maxSkew')::integer;
      -- The eligible domains (up machines the job's selector and affinity allow), then the job's
      -- tasks in each: its claims by job (an index), not a probe per machine of the cell.
      v_doms := array(
        select distinct omega.domain_of(m.labels, m.id, v_key) from omega.machines m
        where m.cell = p_cell and m.state = 'up' and (v_key = 'machine' or m.labels ? v_key)
          and m.labels @> j.selector and (j.affinity = '[]' or omega.affinity_matches(m.labels, j.affinity))
        order by 1);
      v_counts := array_fill(0, array[cardinality(v_doms)]);
      for r in
        select omega.domain_of(m.labels, m.id, v_key) as dom, count(*)::integer as n
        from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
        where c.cell = p_cell and c.job_id = j.id and c.task_id <> all (p_evicted)
        group by 1
      loop
        i := array_position(v_doms, r.dom);
        if i is not null then
          v_counts[i] := r.n;
        end if;
      end loop;
      select min(n), count(*) filter (where n = (select min(n2) from unnest(v_counts) n2))
        into v_min, v_at_min from unnest(v_counts) n;
      for p in
        select d.task_id, omega.domain_of(m.labels, m.id, v_key) as dom
        from unnest(p_decisions) d join omega.machines m on m.cell = p_cell and m.id = d.machine_id
        where d.job_id = j.id and d.reason is null and d.task_id <> all (v_failed)
        order by d.ord
      loop
        i := array_position(v_doms, p.dom);
        if i is null or v_counts[i] + 1 - v_min > v_skew then
          v_failed := v_failed || p.task_id;
          task_id := p.task_id;
          reason := 'topology_spread';
          return next;
          continue;
        end if;
        if v_counts[i] = v_min then
          v_at_min := v_at_min - 1;
        end if;
        v_counts[i] := v_counts[i] + 1;
        if v_at_min = 0 then
          select min(n) into v_min from unnest(v_counts) n;
          select count(*) into v_at_min from unnest(v_counts) n where n = v_min;
        end if;
      end loop;
    end loop;
  end loop;
end $$;

-- Host ports, job anti-affinity (both directions) and job affinity, over the accepted placements
-- in plan order, counting the earlier ones kept.
create function omega.plan_vocabulary_verdicts(p_cell text, p_decisions omega.plan_decision[], p_evicted bigint[])
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
  acc_mlabels jsonb[] := '{}';
  acc_jlabels jsonb[] := '{}';
  i integer;
begin
  -- Live jobs with anti-affinity: they may repel any new task.
  select coalesce(array_agg(r.id), '{}'), coalesce(array_agg(tt.term ->> 'topologyKey'), '{}'),
         coalesce(array_agg(tt.term -> 'selector'), '{}')
    into v_rep_ids, v_rep_keys, v_rep_selectors
  from omega.jobs r cross join lateral jsonb_array_elements(r.vocabulary -> 'jobAntiAffinity') tt(term)
  where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running');
  if cardinality(v_rep_ids) = 0 and not exists (
      select from unnest(p_decisions) d join omega.jobs j on j.cell = p_cell and j.id = d.job_id
      where d.reason is null and (j.ports <> '{}' or j.vocabulary ?| array['topologySpread', 'jobAffinity'])) then
    return;
  end if;

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
        if omega.domain_holds(p_cell, t -> 'selector', t ->> 'topologyKey', v_dom, p_evicted)
           or exists (select from unnest(acc_machines, acc_mlabels, acc_jlabels) a(m, ml, jl)
                      where omega.domain_of(a.ml, a.m, t ->> 'topologyKey') = v_dom and a.jl @> (t -> 'selector')) then
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
           or exists (select from unnest(acc_machines, acc_jobs, acc_mlabels) a(m, jb, ml)
                      where a.jb = v_rep_ids[i] and omega.domain_of(a.ml, a.m, v_rep_keys[i]) = v_dom) then
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
        continue when omega.domain_holds(p_cell, t -> 'selector', t ->> 'topologyKey', v_dom, p_evicted)
          or exists (select from unnest(acc_machines, acc_mlabels, acc_jlabels) a(m, ml, jl)
                     where omega.domain_of(a.ml, a.m, t ->> 'topologyKey') = v_dom and a.jl @> (t -> 'selector'));
        continue when p.labels @> (t -> 'selector')
          and not exists (select from omega.jobs k join omega.claims c on c.cell = k.cell and c.job_id = k.id
                          where k.cell = p_cell and k.labels @> (t -> 'selector') and c.task_id <> all (p_evicted)
                            and (t -> 'selector' = '{}' or (k.labels <> '{}' and k.state in ('pending', 'placed', 'running'))))
          and not exists (select from unnest(acc_jlabels) a(jl) where a.jl @> (t -> 'selector'));
        v_fail := 'job_affinity';
        exit;
      end loop;
    end if;
    if v_fail is null then
      acc_machines := acc_machines || p.machine_id;
      acc_jobs := acc_jobs || p.job_id;
      acc_mlabels := acc_mlabels || p.mlabels;
      acc_jlabels := acc_jlabels || p.labels;
    else
      task_id := p.task_id;
      reason := v_fail;
      return next;
    end if;
  end loop;
end $$;

-- decide_plan, then the vocabulary's verdicts on what it accepted; refusals are forced and the plan
-- decided again (gangs and all-or-nothing follow) until nothing more is refused. Same arguments
-- and result as decide_plan.
create function omega.decide_plan_checked(
  p_cell text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text,
  p_conflict_mode text,
  p_evicted bigint[],
  p_forced_ids bigint[],
  p_forced_reasons text[]
) returns setof omega.plan_decision
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  decisions omega.plan_decision[];
  refused record;
  forced_ids bigint[] := p_forced_ids;
  forced_reasons text[] := p_forced_reasons;
begin
  loop
    decisions := array(select d from omega.decide_plan(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, p_evicted, forced_ids, forced_reasons) d);
    select coalesce(array_agg(v.task_id), '{}') as ids, coalesce(array_agg(v.reason), '{}') as reasons into refused
    from omega.plan_vocabulary_verdicts(p_cell, decisions, coalesce(p_evicted, '{}')) v;
    exit when cardinality(refused.ids) = 0;
    forced_ids := forced_ids || refused.ids;
    forced_reasons := forced_reasons || refused.reasons;
  end loop;
  return query select * from unnest(decisions);
end $$;
