-- A big commit reads and writes less per placement (session 24).
--
-- 1. A commit writes its claims' host ports itself. omega.claims_changed, the statement trigger on
--    claims, wrote the host ports of the claims a statement inserted: for every statement it read
--    the distinct jobs of the transition table and looked each one up for its ports. Most jobs ask
--    for none; with four schedulers on a backlog that statement was 2.7 % of commit_plan's time
--    (3.2 ms a commit of ~460 placements), and a fixed statement in every small commit. plan_apply
--    already reads each placement's job: it now writes the ports of the jobs that have any in its
--    own statement and tells the trigger so through the setting omega.claim_ports_written (as it
--    does for the task moves, the pending counts and the machine log). Other writers of claims are
--    unchanged.
-- 2. omega.plan_verdicts reads each job and each machine of the plan once. Its facts looked up the
--    job, its quota and the machine of every placement by key; a packing scheduler's plan puts many
--    tasks of a job on one machine (the throughput bench: ~460 placements a plan), so most of those
--    lookups read a row the plan had read already. The plan's distinct jobs (with their quota rows)
--    and machines are read into materialized CTEs and joined to the placements by hash. Side by
--    side (scripts/cost-ab.ts, 100 placements): ÷ 0.93 of the backend's CPU with a job's tasks on
--    one machine, ÷ 1.00 with every task on another machine, ÷ 1.01 at 3 placements. (The same for
--    plan_apply's reads cost more than it saved, ÷ 1.04 with every task on another machine: not
--    done.)

create or replace function omega.claims_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
  borrower record;
  lenders bigint[];
  s record;
begin
  if tg_op = 'INSERT' and current_setting('omega.claim_ports_written', true) is distinct from 'on' then
    insert into omega.claim_ports (cell, machine_id, port, task_id)
    select n.cell, n.machine_id, p.port, n.task_id
    from (select distinct n.cell, n.job_id from changed n) k
    cross join lateral (select j.ports from omega.jobs j
                        where j.cell = k.cell and j.id = k.job_id and j.ports <> '{}' offset 0) j
    join changed n on n.cell = k.cell and n.job_id = k.job_id
    cross join lateral unnest(j.ports) as p(port);
  end if;

  -- Quota rows first, share rows last: the order every writer locks them in.
  for borrower in
    with charged as (
      update omega.quotas q
      set used_cpu = q.used_cpu + sign * d.cpu, used_memory = q.used_memory + sign * d.memory,
          used_gpu = q.used_gpu + sign * d.gpu, used_disk = q.used_disk + sign * d.disk
      from (select c.cell, c.tenant_id, omega.band(c.priority) as band,
                   sum(c.cpu) as cpu, sum(c.memory) as memory, sum(c.gpu) as gpu, sum(c.disk) as disk
            from changed c group by 1, 2, 3) d
      where q.cell = d.cell and q.tenant_id = d.tenant_id and q.band = d.band
      returning q.cell, q.band, q.cohort, q.tenant_id, q.used_cpu > q.nominal_cpu as cpu,
        q.used_memory > q.nominal_memory as memory, q.used_gpu > q.nominal_gpu as gpu,
        q.used_disk > q.nominal_disk as disk
    )
    select c.* from charged c
    where sign = 1 and c.cohort is not null and (c.cpu or c.memory or c.gpu or c.disk)
  loop
    -- A borrowing member unparks its lenders' work (0241): members under their own quota in a
    -- dimension this member borrows.
    lenders := array(
      select l.tenant_id from omega.quotas l
      where l.cell = borrower.cell and l.band = borrower.band and l.cohort = borrower.cohort
        and l.tenant_id <> borrower.tenant_id
        and (borrower.cpu and l.used_cpu < l.nominal_cpu or borrower.memory and l.used_memory < l.nominal_memory
             or borrower.gpu and l.used_gpu < l.nominal_gpu or borrower.disk and l.used_disk < l.nominal_disk));
    if cardinality(lenders) = 0 then
      continue;
    end if;
    update omega.cells set capacity_epoch = capacity_epoch + 1 where name = borrower.cell;
    for s in
      with unblocked as (
        update omega.jobs j set blocked = false
        -- (Skip locked: a job another commit is unblocking, or one being cancelled, is served.)
        from (select p.id from omega.jobs p
              where p.tenant_id = any (lenders) and p.cell = borrower.cell and p.state = 'pending'
                and p.blocked and omega.band(p.priority) = borrower.band
              for update skip locked) b
        where j.cell = borrower.cell and j.id = b.id
        returning j.scheduler)
      select distinct u.scheduler from unblocked u
    loop
      perform omega.wake(borrower.cell, s.scheduler);
    end loop;
  end loop;

  insert into omega.tenant_usage as u (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
  select c.cell, c.tenant_id, pg_backend_pid() % 16,
    sign * sum(c.cpu), sign * sum(c.memory), sign * sum(c.gpu), sign * sum(c.disk), sign * count(*)
  from changed c group by c.cell, c.tenant_id order by c.cell, c.tenant_id
  on conflict (cell, tenant_id, shard) do update
    set cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory, gpu = u.gpu + excluded.gpu,
        disk = u.disk + excluded.disk, tasks = u.tasks + excluded.tasks;
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
    || set_config('omega.pending_counted', 'on', true) || set_config('omega.machine_changes_logged', 'on', true)
    || set_config('omega.claim_ports_written', 'on', true);
  with accepted as (
    select d.task_id, d.machine_id, m.name as machine, d.job_id, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk,
      j.state as job_state, j.ports
    from unnest(p_decisions) d
    join omega.jobs j on j.cell = p_cell and j.id = d.job_id
    join omega.machines m on m.cell = p_cell and m.id = d.machine_id
    where d.reason is null
  ), new_claims as (
    insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler, plan_id)
    select p_cell, a.task_id, a.job_id, a.machine_id, a.tenant_id, a.priority, a.cpu, a.memory, a.gpu, a.disk, p_scheduler, p_plan_id
    from accepted a
  ), ports_written as (
    -- What omega.claims_changed would write for these claims (it skips this statement): the host
    -- ports of the jobs that ask for any, without a look at every job of the plan.
    insert into omega.claim_ports (cell, machine_id, port, task_id)
    select p_cell, a.machine_id, p.port, a.task_id
    from accepted a cross join lateral unnest(a.ports) as p(port)
    where a.ports <> '{}'
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory,
        used_gpu = m.used_gpu + a.gpu, used_disk = m.used_disk + a.disk, tasks = m.tasks + a.n,
        version = m.version + 1, changed_xid = pg_current_xact_id()
    from (select a.machine_id, sum(a.cpu) as cpu, sum(a.memory) as memory, sum(a.gpu) as gpu,
                 sum(a.disk) as disk, count(*) as n
          from accepted a group by a.machine_id) a
    where m.cell = p_cell and m.id = a.machine_id
    returning m.id
  ), machine_changes_logged as (
    -- What omega.log_machine_changes would log for this statement (it skips it): one row a plan.
    insert into omega.machine_changes (cell, machine_ids)
    select p_cell, array_agg(u.id) from machine_updates u having count(*) > 0
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
    || set_config('omega.pending_counted', '', true) || set_config('omega.machine_changes_logged', '', true)
    || set_config('omega.claim_ports_written', '', true);
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
  -- The plan's own rows, each by its key (0250) and each once (0347): a packing scheduler's plan
  -- puts many tasks of a job on one machine, and a job's quota is its tenant's in its band.
  tasks_of as materialized (
    select p.*, t.job_id, t.state as task_state,
      row_number() over (partition by p.task_id order by p.ord) > 1 as duplicate
    from proposed p
    left join lateral (select x.job_id, x.state from omega.tasks x where x.cell = p_cell and x.id = p.task_id offset 0) t on true
  ),
  jobs_of as materialized (
    select j.*, q.cell is not null as has_quota,
      q.cpu - q.used_cpu + coalesce(cr.cpu, 0) as quota_cpu,
      q.memory - q.used_memory + coalesce(cr.memory, 0) as quota_memory,
      q.gpu - q.used_gpu + coalesce(cr.gpu, 0) as quota_gpu,
      q.disk - q.used_disk + coalesce(cr.disk, 0) as quota_disk
    from (select distinct k.job_id from tasks_of k where k.job_id is not null) k
    cross join lateral (
      select x.id, x.tenant_id, omega.band(x.priority) as band, x.task_count, x.cpu, x.memory, x.gpu, x.disk,
        x.max_per_machine, x.gang_min, x.selector, x.affinity, x.tolerations, x.spread_by
      from omega.jobs x where x.cell = p_cell and x.id = k.job_id offset 0) j
    left join omega.quotas q on q.cell = p_cell and q.tenant_id = j.tenant_id and q.band = j.band
    left join credit cr on cr.tenant_id = j.tenant_id and cr.band = j.band
  ),
  machines_of as materialized (
    select m.id, m.state, m.version, m.labels, m.taints,
      m.cpu - m.used_cpu + coalesce(fr.cpu, 0) as free_cpu,
      m.memory - m.used_memory + coalesce(fr.memory, 0) as free_memory,
      m.gpu - m.used_gpu + coalesce(fr.gpu, 0) as free_gpu,
      m.disk - m.used_disk + coalesce(fr.disk, 0) as free_disk,
      m.max_tasks - m.tasks + coalesce(fr.n, 0) as free_slots
    from (select distinct k.machine_id from proposed k) k
    cross join lateral (select * from omega.machines x where x.cell = p_cell and x.id = k.machine_id offset 0) m
    left join freed fr on fr.machine_id = m.id
  ),
  facts as (
    select p.ord, p.task_id, p.machine_id, p.seen_version, p.job_id, p.task_state, p.duplicate,
      j.tenant_id, j.band, j.task_count, j.cpu, j.memory, j.gpu, j.disk,
      j.max_per_machine, j.gang_min, j.selector, j.affinity, j.tolerations, j.spread_by,
      m.id is not null as machine_exists, m.state as machine_state, m.version as machine_version,
      m.labels, m.taints, m.labels ->> j.spread_by as domain,
      m.free_cpu, m.free_memory, m.free_gpu, m.free_disk, m.free_slots,
      coalesce(j.has_quota, false) as has_quota, j.quota_cpu, j.quota_memory, j.quota_gpu, j.quota_disk,
      fo.reason as forced_reason
    from tasks_of p
    left join jobs_of j on j.id = p.job_id
    left join machines_of m on m.id = p.machine_id
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
