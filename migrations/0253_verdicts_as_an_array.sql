-- The commit's verdicts as an array, not a set to gather back into one.
--
-- commit_plan called decide_plan_checked (0104), a set-returning PL/pgSQL function with SET
-- clauses of its own, and folded its rows back into an array: a function call, a tuplestore and a
-- GUC save and restore per verdict round. omega.decide_plan_verdicts is its loop returning the
-- array itself, with no SET clauses (its callers set them); commit_plan calls it directly, and
-- decide_plan_checked, which omega.move_probe still calls, is now a set over it: one copy of the
-- loop. A serial 3-placement lease + commit: 3.16 / 3.20 → 3.02 / 3.11 ms of backend CPU
-- (scripts/commit-cost.ts 1500, side by side). commit_plan is otherwise 0191's.

create function omega.decide_plan_verdicts(
  p_cell text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text,
  p_conflict_mode text,
  p_evicted bigint[],
  p_forced_ids bigint[],
  p_forced_reasons text[]
) returns omega.plan_decision[]
language plpgsql stable as $$
declare
  decisions omega.plan_decision[];
  refused record;
  forced_ids bigint[] := p_forced_ids;
  forced_reasons text[] := p_forced_reasons;
begin
  -- The vocabulary's verdicts (0104) refuse placements decide_plan accepted: decide again without
  -- them, until nothing more is refused.
  loop
    decisions := array(select d from omega.decide_plan(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, p_evicted, forced_ids, forced_reasons) d);
    select coalesce(array_agg(v.task_id), '{}') as ids, coalesce(array_agg(v.reason), '{}') as reasons into refused
    from omega.plan_vocabulary_verdicts(p_cell, decisions, coalesce(p_evicted, '{}')) v;
    exit when cardinality(refused.ids) = 0;
    forced_ids := forced_ids || refused.ids;
    forced_reasons := forced_reasons || refused.reasons;
  end loop;
  return decisions;
end $$;

create or replace function omega.decide_plan_checked(
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
begin
  return query select * from unnest(omega.decide_plan_verdicts(p_cell, p_task_ids, p_machine_ids,
    p_machine_versions, p_transaction_mode, p_conflict_mode, p_evicted, p_forced_ids, p_forced_reasons));
end $$;

create or replace function omega.commit_plan(
  p_cell text,
  p_scheduler text,
  p_task_ids bigint[],
  p_machine_ids bigint[],
  p_machine_versions bigint[],
  p_transaction_mode text default 'incremental',
  p_conflict_mode text default 'fine',
  p_worker text default '',
  -- Preemption: claims (by task id) to evict, each for the placement of the task at the same
  -- position in p_victim_for, on the machine that placement names.
  p_victim_ids bigint[] default '{}',
  p_victim_for bigint[] default '{}'
) returns table (task_id bigint, machine_id bigint, outcome text, reason text)
-- No JIT: short OLTP work whose estimated cost can pass jit_above_cost on a big plan (a 4,000-
-- placement commit once spent 1.4 s compiling and 0.3 s executing). Generic plans: see the top.
language plpgsql set jit = off set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  started timestamptz := clock_timestamp();
  v_plan_id bigint;
  decisions omega.plan_decision[];
  ev_ids bigint[] := coalesce(p_victim_ids, '{}');
  ev_for bigint[] := coalesce(p_victim_for, '{}');
  forced_ids bigint[] := '{}';
  forced_reasons text[] := '{}';
  failing record;
  breakers bigint[];
  busy bigint[];
  v_committed integer;
begin
  if p_transaction_mode not in ('incremental', 'all-or-nothing') then
    raise exception using errcode = 'OM422', message = format('unknown transaction mode %L', p_transaction_mode);
  end if;
  if p_conflict_mode not in ('fine', 'coarse') then
    raise exception using errcode = 'OM422', message = format('unknown conflict mode %L', p_conflict_mode);
  end if;
  if cardinality(p_task_ids) is distinct from cardinality(p_machine_ids)
     or cardinality(p_task_ids) is distinct from cardinality(p_machine_versions) then
    raise exception using errcode = 'OM422', message = 'task, machine and version arrays must have the same length';
  end if;
  if cardinality(ev_ids) <> cardinality(ev_for) then
    raise exception using errcode = 'OM422', message = 'victim and victim_for arrays must have the same length';
  end if;

  busy := omega.plan_lock(p_cell, p_task_ids, p_machine_ids, ev_ids);
  if cardinality(busy) > 0 then
    select array_agg(u.t), array_fill('machine_busy'::text, array[count(*)::integer]) into forced_ids, forced_reasons
    from unnest(p_task_ids, p_machine_ids) as u(t, m) where u.m = any (busy);
  end if;

  if cardinality(ev_ids) = 0 then
    -- Cohorts (0142): placements the cohort cannot lend for.
    select forced_ids || coalesce(array_agg(c.task_id), '{}'), forced_reasons || coalesce(array_agg(c.reason), '{}')
      into forced_ids, forced_reasons
    from omega.plan_cohort_verdicts(p_cell, p_task_ids, ev_ids, forced_ids) c;
    decisions := omega.decide_plan_verdicts(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, '{}', forced_ids, forced_reasons);
  else
    -- Preemption: decide with the victims counted as gone. A preemptor that fails gives its victims
    -- back, which can only fail more placements, so this converges (at most once per preemptor).
    select forced_ids || coalesce(array_agg(v.for_task), '{}'), forced_reasons || coalesce(array_agg(v.reason), '{}')
      into forced_ids, forced_reasons
    from omega.plan_victim_verdicts(p_cell, p_task_ids, p_machine_ids, ev_ids, ev_for) v;
    loop
      select coalesce(array_agg(x.v order by x.ord), '{}'), coalesce(array_agg(x.f order by x.ord), '{}')
        into ev_ids, ev_for
      from unnest(ev_ids, ev_for) with ordinality as x(v, f, ord)
      where x.f <> all (forced_ids);
      breakers := array(select omega.plan_gang_breakers(p_cell, ev_ids, ev_for));
      if cardinality(breakers) > 0 then
        forced_ids := forced_ids || breakers;
        forced_reasons := forced_reasons || array_fill('victim_breaks_gang'::text, array[cardinality(breakers)]);
        continue;
      end if;
      -- Cohorts (0142), counting only the evictions still standing: a reclaim whose preemptor
      -- failed gives nothing back.
      select coalesce(array_agg(c.task_id), '{}') as ids, coalesce(array_agg(c.reason), '{}') as reasons
        into failing
      from omega.plan_cohort_verdicts(p_cell, p_task_ids, ev_ids, forced_ids) c;
      if cardinality(failing.ids) > 0 then
        forced_ids := forced_ids || failing.ids;
        forced_reasons := forced_reasons || failing.reasons;
        continue;
      end if;
      decisions := omega.decide_plan_verdicts(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
        p_transaction_mode, p_conflict_mode, ev_ids, forced_ids, forced_reasons);
      select coalesce(array_agg(d.task_id), '{}') as ids, coalesce(array_agg(d.reason), '{}') as reasons
        into failing
      from unnest(decisions) d
      where d.reason is not null and d.task_id = any (ev_for) and d.task_id <> all (forced_ids);
      exit when cardinality(failing.ids) = 0;
      forced_ids := forced_ids || failing.ids;
      forced_reasons := forced_reasons || failing.reasons;
    end loop;
  end if;

  v_plan_id := nextval(pg_get_serial_sequence('omega.plans', 'id'));
  if cardinality(ev_ids) > 0 then
    perform omega.plan_evict(p_cell, ev_ids, ev_for);
  end if;
  v_committed := omega.plan_apply(p_cell, p_scheduler, v_plan_id, decisions);

  -- Step 5, the log: one row per plan (omega.scheduler_stats sums them).
  insert into omega.plans (cell, id, scheduler, worker, transaction_mode, conflict_mode, attempted, committed,
    rejected, evicted, duration_ms)
  overriding system value
  select p_cell, v_plan_id, p_scheduler, p_worker, p_transaction_mode, p_conflict_mode,
    cardinality(decisions), v_committed,
    (select coalesce(jsonb_object_agg(r.reason, r.n), '{}')
     from (select d.reason, count(*) as n from unnest(decisions) d where d.reason is not null group by d.reason) r),
    cardinality(ev_ids),
    extract(epoch from clock_timestamp() - started) * 1000;

  -- One row per proposed placement, in plan order, then one per eviction.
  return query
  select d.task_id, d.machine_id,
    case when d.reason is null then 'committed' else 'rejected' end, d.reason
  from unnest(decisions) d
  order by d.ord;
  if cardinality(ev_ids) > 0 then
    return query
    select e.v, d.machine_id, 'evicted'::text, format('preempted by task %s', e.f)
    from unnest(ev_ids, ev_for) with ordinality as e(v, f, ord)
    join unnest(decisions) d on d.task_id = e.f and d.reason is null
    order by e.ord;
  end if;
end $$;
call omega.grant_entry_point('commit_plan', '{omega_scheduler}');
