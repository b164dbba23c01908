-- A commit in fewer statements (session 22).
--
-- A small commit's time is the fixed cost of some twenty statements (session 21's profile: executor
-- start-up ~30 %, no single hot spot). Every rule stays where it was; statements whose answer is
-- known without running them are no longer run:
--   - omega.commit_plan asks for the cohorts' verdicts only when the cell has a cohort (the
--     function's own first test), instead of a statement calling it for every plan; and draws the
--     plan's id from its sequence by name, not through pg_get_serial_sequence's catalog lookups.
--   - omega.decide_plan_verdicts asks omega.plan_uses_vocabulary (a plain call, not a statement)
--     before the vocabulary's verdicts are read in a statement.
--   - omega.plan_verdicts learns from its facts statement whether any placement's job names
--     maxPerMachine, spreadBy or a gang, instead of three statements asking; the all-or-nothing
--     test is an expression.
--   - omega.plan_apply sets its three settings in one expression each way: PL/pgSQL runs PERFORM
--     through the executor as a query, an assignment as a plain expression.
--   - tasks_events is not called when the statement logged its own moves (the function's first
--     test, now the trigger's WHEN), and omega.notify_events sends its notification in the
--     statement that builds it.

drop trigger tasks_events on omega.tasks;
create trigger tasks_events after update on omega.tasks
  referencing old table as old_tasks new table as new_tasks
  for each statement when (current_setting('omega.task_moves_logged', true) is distinct from 'on')
  execute function omega.record_task_events();

create or replace function omega.notify_events() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform pg_notify('omega_events', r.payload)
  from (select json_agg(json_build_object('cell', e.cell, 'lo', e.lo, 'hi', e.hi))::text as payload
        from (select cell, min(id) as lo, max(id) as hi from new_events group by cell) e) r
  where r.payload is not null;
  return null;
end $$;

create or replace function omega.plan_apply(p_cell text, p_scheduler text, p_plan_id bigint, p_decisions omega.plan_decision[])
returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  n integer;
  settings text;
begin
  settings := set_config('omega.task_moves_logged', 'on', true) || set_config('omega.claims_verified', 'on', true)
    || set_config('omega.pending_counted', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk,
      j.state as job_state
    from unnest(p_decisions) d
    join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    join omega.machines m on m.cell = p_cell and m.id = d.machine_id
    where d.reason is null
  ), new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, p_plan_id
    from accepted a
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n,
        version = m.version + 1, changed_xid = pg_current_xact_id()
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
  ), task_updates as (
    update omega.tasks t set state = 'placed', reason = null
    from accepted a where t.cell = p_cell and t.id = a.task_id
    returning t.id, t.job_id, t.index, t.held, a.machine
  ), job_updates as (
    update omega.jobs j
    set pending_count = j.pending_count - a.n,
        state = case when j.pending_count = a.n then 'placed' else j.state end,
        lease_owner = case when j.pending_count = a.n then null else j.lease_owner end,
        lease_expires = case when j.pending_count = a.n then null else j.lease_expires end,
        updated_at = now()
    from (select a.job_id, count(*) as n, min(a.job_state) as old_state from accepted a group by a.job_id) a
    where j.cell = p_cell and j.id = a.job_id
    returning j.id, j.state, a.old_state
  ), moves_logged as (
    -- What omega.record_task_events and omega.record_job_event would log for these moves (they skip
    -- this statement): each task placed, then each job whose state changed.
    insert into omega.events (cell, job_id, task_id, task_index, kind, machine)
    select p_cell, t.job_id, t.id, t.index, case when t.held then 'reserved' else 'placed' end, t.machine
    from task_updates t
    union all
    select p_cell, u.id, null, null, u.state, null from job_updates u where u.state is distinct from u.old_state
  ), pending_counts as (
    -- What omega.job_counts_pending would count for these jobs (it skips this statement): a placed
    -- task of a pending job leaves the tenant's backlog (a job of another state was not in it).
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select a.tenant_id, pg_backend_pid(), -count(*) from accepted a where a.job_state = 'pending'
    group by a.tenant_id order by a.tenant_id
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks
  )
  select count(*) into n from accepted;
  settings := set_config('omega.task_moves_logged', '', true) || set_config('omega.claims_verified', '', true)
    || set_config('omega.pending_counted', '', true);
  return n;
end $$;

create or replace function omega.plan_verdicts(
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
  facts omega.plan_fact[];
  reasons text[];
  -- Whether any placement's job names maxPerMachine, spreadBy, a gang: the steps only they need.
  any_max_per_machine boolean;
  any_spread boolean;
  any_gang boolean;
begin
  -- 1. Facts, and the checks that depend on one placement alone.
  with proposed as materialized (
    select u.ord::integer as ord, u.task_id, u.machine_id, u.seen_version
    from unnest(p_task_ids, p_machine_ids, p_machine_versions) with ordinality as u(task_id, machine_id, seen_version, ord)
  ),
  forced as (
    select f.task_id, min(f.reason) as reason
    from unnest(p_forced_ids, p_forced_reasons) as f(task_id, reason) group by f.task_id
  ),
  evicted as (
    select c.* from unnest(p_evicted) as e(task_id)
    cross join lateral (select * from omega.claims c where c.cell = p_cell and c.task_id = e.task_id offset 0) c
  ),
  -- What the evictions give back, to machines and to quotas.
  freed as materialized (
    select e.machine_id, sum(e.cpu) as cpu, sum(e.memory) as memory, sum(e.gpu) as gpu, sum(e.disk) as disk,
      count(*) as n
    from evicted e group by e.machine_id
  ),
  credit as materialized (
    select e.tenant_id, omega.band(e.priority) as band,
      sum(e.cpu) as cpu, sum(e.memory) as memory, sum(e.gpu) as gpu, sum(e.disk) as disk
    from evicted e group by 1, 2
  ),
  facts as (
    select p.*, t.job_id, t.state as task_state,
      j.tenant_id, omega.band(j.priority) as band, j.task_count, j.cpu, j.memory, j.gpu, j.disk,
      j.max_per_machine, j.gang_min, j.selector, j.affinity, j.tolerations, j.spread_by,
      m.id is not null as machine_exists, m.state as machine_state, m.version as machine_version,
      m.labels, m.taints, m.labels ->> j.spread_by as domain,
      m.cpu - m.used_cpu + coalesce(fr.cpu, 0) as free_cpu,
      m.memory - m.used_memory + coalesce(fr.memory, 0) as free_memory,
      m.gpu - m.used_gpu + coalesce(fr.gpu, 0) as free_gpu,
      m.disk - m.used_disk + coalesce(fr.disk, 0) as free_disk,
      m.max_tasks - m.tasks + coalesce(fr.n, 0) as free_slots,
      q.cell is not null as has_quota,
      q.cpu - q.used_cpu + coalesce(cr.cpu, 0) as quota_cpu,
      q.memory - q.used_memory + coalesce(cr.memory, 0) as quota_memory,
      q.gpu - q.used_gpu + coalesce(cr.gpu, 0) as quota_gpu,
      q.disk - q.used_disk + coalesce(cr.disk, 0) as quota_disk,
      fo.reason as forced_reason,
      row_number() over (partition by p.task_id order by p.ord) > 1 as duplicate
    from proposed p
    -- The plan's own rows, each by its key (0250).
    left join lateral (select * from omega.tasks x where x.cell = p_cell and x.id = p.task_id offset 0) t on true
    left join lateral (select * from omega.jobs x where x.cell = p_cell and x.id = t.job_id offset 0) j on true
    left join lateral (select * from omega.machines x where x.cell = p_cell and x.id = p.machine_id offset 0) m on true
    left join freed fr on fr.machine_id = p.machine_id
    left join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = omega.band(j.priority)
    left join credit cr on cr.tenant_id = j.tenant_id and cr.band = omega.band(j.priority)
    -- Not materialized: see 0313.
    left join forced fo on fo.task_id = p.task_id
  )
  select array_agg(row(f.ord, f.task_id, f.machine_id, f.job_id, f.tenant_id, f.band, f.task_count,
           f.cpu, f.memory, f.gpu, f.disk, f.max_per_machine, f.gang_min, f.spread_by, f.domain,
           f.free_cpu, f.free_memory, f.free_gpu, f.free_disk, f.free_slots,
           f.has_quota, f.quota_cpu, f.quota_memory, f.quota_gpu, f.quota_disk)::omega.plan_fact order by f.ord),
    array_agg(case
      when f.job_id is null then 'task_not_found'
      when f.duplicate then 'duplicate_task'
      when f.task_state <> 'pending' then 'task_not_pending'
      when not f.machine_exists then 'machine_not_found'
      when f.forced_reason is not null then f.forced_reason
      when f.machine_state <> 'up' then 'machine_not_up'
      when p_conflict_mode = 'coarse' and f.machine_version <> f.seen_version then 'machine_changed'
      when not omega.constraints_match(f.labels, f.taints, f.selector, f.affinity, f.tolerations) then 'constraints_not_met'
      when f.spread_by is not null and f.domain is null then 'spread'
      end order by f.ord),
    bool_or(f.max_per_machine is not null), bool_or(f.spread_by is not null), bool_or(f.gang_min is not null)
  into facts, reasons, any_max_per_machine, any_spread, any_gang
  from facts f;
  if facts is null then
    return '{}';
  end if;

  -- 2. maxPerMachine: the job's claims already on the machine plus its earlier placements in this plan.
  if any_max_per_machine then
    reasons := array(
      select case
        when s.r is null and s.max_per_machine is not null
          and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = s.job_id and c.machine_id = s.machine_id)
            + row_number() over (partition by s.job_id, s.machine_id, s.r is null order by s.ord) > s.max_per_machine
        then 'max_per_machine' else s.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) s
      order by s.ord);
  end if;

  -- 3. Hard spread: a job naming spreadBy may hold at most ceil(tasks / values) tasks per value of
  -- that label, counting the values of the up machines its selector and affinity allow.
  if any_spread then
    reasons := array(
      with spread_jobs as (
        select distinct f.job_id, f.spread_by, j.selector, j.affinity, f.task_count
        from unnest(facts) f
        cross join lateral (select j.selector, j.affinity from omega.jobs j where j.cell = p_cell and j.id = f.job_id offset 0) j
        where f.spread_by is not null
      ),
      spread_caps as materialized (
        select sj.job_id,
          ceil(sj.task_count::numeric / greatest(count(distinct m.labels ->> sj.spread_by), 1))::integer as cap
        from spread_jobs sj
        left join omega.machines m on m.cell = p_cell and m.state = 'up' and m.labels ? sj.spread_by
          and m.labels @> sj.selector and (sj.affinity = '[]'::jsonb or omega.affinity_matches(m.labels, sj.affinity))
        group by sj.job_id, sj.task_count
      ),
      spread_held as materialized (
        select c.job_id, m.labels ->> sj.spread_by as domain, count(*) as n
        from spread_jobs sj
        join omega.claims c on c.cell = p_cell and c.job_id = sj.job_id
        join omega.machines m on m.cell = p_cell and m.id = c.machine_id
        group by 1, 2
      )
      select case
        when s.r is null and s.spread_by is not null
          and coalesce((select h.n from spread_held h where h.job_id = s.job_id and h.domain = s.domain), 0)
            + row_number() over (partition by s.job_id, s.domain, s.r is null order by s.ord)
            > (select sc.cap from spread_caps sc where sc.job_id = s.job_id)
        then 'spread' else s.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) s
      order by s.ord);
  end if;

  -- 4. Capacity: running sums per machine, in plan order, over the placements still standing; then
  -- the machine's task cap (maxTasks: claims there, less the plan's evictions, plus the plan's).
  -- Quotas: running sums per (tenant, band), in plan order, over the placements still standing.
  reasons := array(
    select case
      when s.fit is null and s.has_quota and (
        sum(s.cpu) over q > s.quota_cpu or sum(s.memory) over q > s.quota_memory
        or sum(s.gpu) over q > s.quota_gpu or sum(s.disk) over q > s.quota_disk)
      then 'quota_exceeded' else s.fit end
    from (
      select f.*, case
        when f.r is null and (
          sum(f.cpu) over w > f.free_cpu or sum(f.memory) over w > f.free_memory
          or sum(f.gpu) over w > f.free_gpu or sum(f.disk) over w > f.free_disk)
        then 'insufficient_resources'
        when f.r is null and count(*) over w > f.free_slots then 'max_tasks'
        else f.r end as fit
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) f
      window w as (partition by f.machine_id, f.r is null order by f.ord)
    ) s
    window q as (partition by s.tenant_id, s.band, s.fit is null order by s.ord)
    order by s.ord);

  -- 5. Gangs: a gang job ends with either zero claims or at least gang_min.
  if any_gang then
    reasons := array(
      select case
        when g.r is null and g.gang_min is not null
          and (select count(*) from omega.claims c where c.cell = p_cell and c.job_id = g.job_id)
            + count(*) filter (where g.r is null) over (partition by g.job_id) < g.gang_min
        then 'gang_incomplete' else g.r end
      from (select f.*, reasons[f.ord] as r from unnest(facts) f) g
      order by g.ord);
  end if;

  -- 6. All or nothing.
  if p_transaction_mode = 'all-or-nothing' and cardinality(array_remove(reasons, null)) > 0 then
    reasons := array(select coalesce(r, 'plan_aborted') from unnest(reasons) r);
  end if;

  return array(
    select row(f.ord, f.task_id, f.machine_id, f.job_id, reasons[f.ord])::omega.plan_decision
    from unnest(facts) f order by f.ord);
end $$;

create or replace function omega.decide_plan_verdicts(
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
  -- The vocabulary's verdicts (0104) refuse placements plan_verdicts accepted: decide again without
  -- them, until nothing more is refused.
  loop
    decisions := omega.plan_verdicts(p_cell, p_task_ids, p_machine_ids, p_machine_versions,
      p_transaction_mode, p_conflict_mode, p_evicted, forced_ids, forced_reasons);
    exit when not omega.plan_uses_vocabulary(p_cell, decisions);
    select coalesce(array_agg(v.task_id), '{}') as ids, coalesce(array_agg(v.reason), '{}') as reasons into refused
    from omega.plan_vocabulary_verdicts(p_cell, decisions, coalesce(p_evicted, '{}')) v;
    exit when cardinality(refused.ids) = 0;
    forced_ids := forced_ids || refused.ids;
    forced_reasons := forced_reasons || refused.reasons;
  end loop;
  return decisions;
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
    if exists (select from omega.quotas q where q.cell = p_cell and q.cohort is not null) then
      select forced_ids || coalesce(array_agg(c.task_id), '{}'), forced_reasons || coalesce(array_agg(c.reason), '{}')
        into forced_ids, forced_reasons
      from omega.plan_cohort_verdicts(p_cell, p_task_ids, ev_ids, forced_ids) c;
    end if;
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

  v_plan_id := nextval('omega.plans_id_seq');
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
