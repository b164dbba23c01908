-- Cohorts: quotas that lend and borrow (issue 15, SPEC "Sharing"; Kueue's ClusterQueue cohorts).
--
-- A quota may name a cohort. Quotas of one cohort — in one cell and one band — lend each other
-- what they do not use of their nominal quota: a member may run past its nominal quota by what it
-- borrows, up to its borrowingLimit; a member lends at most its lendingLimit of its nominal quota.
-- Per dimension, with n a member's nominal quota, u its usage, LL its lending limit (default: all
-- of n) and BL its borrowing limit (default: none):
--
--   borrowed  = max(u - n, 0)                    what it uses beyond its own
--   lendable  = min(LL, max(n - u, 0))           what it could lend now
--   invariant (SPEC 3): u <= n + BL, and per cohort  sum(borrowed) <= sum(lendable)
--
-- The quota row's limit columns (cpu, memory, gpu, disk) become the member's *ceiling*: n plus
-- the most it could ever borrow (min(BL, the other members' lendable nominal quota)). So the row's
-- CHECK (used <= limit), the commit's per-tenant quota step (decide_plan), the planner's free
-- quota and admission (422 when a job can never fit) keep working unchanged, now with borrowing
-- counted; the nominal quota moves to nominal_*. Without a cohort the ceiling is the nominal quota,
-- as before. What the ceiling cannot say — whether the cohort has anything left to lend right now
-- — is checked by the commit step omega.plan_cohort_verdicts (0143), under a lock per cohort.

alter table omega.quotas
  add column nominal_cpu omega.quantity,
  add column nominal_memory omega.quantity,
  add column nominal_gpu omega.quantity,
  add column nominal_disk omega.quantity,
  add column cohort omega.name,
  -- Null: not limited.
  add column borrowing_limit_cpu bigint check (borrowing_limit_cpu between 0 and 1000000000000),
  add column borrowing_limit_memory bigint check (borrowing_limit_memory between 0 and 1000000000000),
  add column borrowing_limit_gpu bigint check (borrowing_limit_gpu between 0 and 1000000000000),
  add column borrowing_limit_disk bigint check (borrowing_limit_disk between 0 and 1000000000000),
  -- Null: all of the nominal quota may be lent.
  add column lending_limit_cpu bigint check (lending_limit_cpu between 0 and 1000000000000),
  add column lending_limit_memory bigint check (lending_limit_memory between 0 and 1000000000000),
  add column lending_limit_gpu bigint check (lending_limit_gpu between 0 and 1000000000000),
  add column lending_limit_disk bigint check (lending_limit_disk between 0 and 1000000000000);
update omega.quotas set nominal_cpu = cpu, nominal_memory = memory, nominal_gpu = gpu, nominal_disk = disk;
alter table omega.quotas
  add constraint quotas_nominal_cpu check (nominal_cpu <= cpu),
  add constraint quotas_nominal_memory check (nominal_memory <= memory),
  add constraint quotas_nominal_gpu check (nominal_gpu <= gpu),
  add constraint quotas_nominal_disk check (nominal_disk <= disk),
  add constraint quotas_sharing_needs_cohort check (cohort is not null or num_nonnulls(
    borrowing_limit_cpu, borrowing_limit_memory, borrowing_limit_gpu, borrowing_limit_disk,
    lending_limit_cpu, lending_limit_memory, lending_limit_gpu, lending_limit_disk) = 0);
-- Members of a cohort; and whether a cell has any (one probe: a commit in a cell without cohorts
-- skips the cohort step).
create index quotas_cohort on omega.quotas (cell, band, cohort) where cohort is not null;

-- One member's slack in its cohort, in one dimension: what it could lend now less what it borrows.
-- A cohort holds invariant 3 while its members' slacks add up to zero or more.
create function omega.cohort_slack(p_used numeric, p_nominal numeric, p_lending_limit numeric) returns numeric
language sql immutable parallel safe as $$
  select least(coalesce(p_lending_limit, p_nominal), greatest(p_nominal - p_used, 0)) - greatest(p_used - p_nominal, 0)
$$;

-- A member's ceiling in one dimension: its nominal quota plus the most it may borrow (its borrowing
-- limit, and what the others could lend at most), within the range of a quantity.
create function omega.quota_ceiling(p_nominal bigint, p_borrowing_limit bigint, p_others_lendable numeric)
returns bigint
language sql immutable parallel safe as $$
  select least(1000000000000, p_nominal + least(coalesce(p_borrowing_limit, 1000000000000), p_others_lendable))::bigint
$$;

-- What a member may still take now in one dimension (the planner's free quota): up to its
-- ceiling, and no more than leaves its cohort's slack at zero. Below n - LL its use costs the
-- cohort nothing (that part of its quota is not lendable); past it, every unit costs one.
create function omega.cohort_free(p_ceiling bigint, p_used bigint, p_nominal bigint, p_lending_limit bigint,
  p_cohort_slack numeric) returns bigint
language sql immutable parallel safe as $$
  select greatest(least(p_ceiling - p_used,
    greatest(p_nominal - coalesce(p_lending_limit, p_nominal) - p_used, 0) + greatest(p_cohort_slack, 0)), 0)::bigint
$$;

-- The free quota of (cell, tenant, band) as the planner sees it: the ceiling less usage, and for a
-- cohort member no more than the cohort has left. Null band when no quota row limits it.
create function omega.quota_free(p_cell text, p_tenant bigint, p_band text)
returns table (band text, cpu bigint, memory bigint, gpu bigint, disk bigint)
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
declare
  q omega.quotas;
  s record;
begin
  select * into q from omega.quotas x where x.cell = p_cell and x.tenant_id = p_tenant and x.band = p_band;
  if not found then
    return;
  end if;
  if q.cohort is null then
    return query select q.band, (q.cpu - q.used_cpu)::bigint, (q.memory - q.used_memory)::bigint,
      (q.gpu - q.used_gpu)::bigint, (q.disk - q.used_disk)::bigint;
    return;
  end if;
  select sum(omega.cohort_slack(m.used_cpu, m.nominal_cpu, m.lending_limit_cpu)) as cpu,
         sum(omega.cohort_slack(m.used_memory, m.nominal_memory, m.lending_limit_memory)) as memory,
         sum(omega.cohort_slack(m.used_gpu, m.nominal_gpu, m.lending_limit_gpu)) as gpu,
         sum(omega.cohort_slack(m.used_disk, m.nominal_disk, m.lending_limit_disk)) as disk
    into s
  from omega.quotas m where m.cell = p_cell and m.band = q.band and m.cohort = q.cohort;
  return query select q.band,
    omega.cohort_free(q.cpu, q.used_cpu, q.nominal_cpu, q.lending_limit_cpu, s.cpu),
    omega.cohort_free(q.memory, q.used_memory, q.nominal_memory, q.lending_limit_memory, s.memory),
    omega.cohort_free(q.gpu, q.used_gpu, q.nominal_gpu, q.lending_limit_gpu, s.gpu),
    omega.cohort_free(q.disk, q.used_disk, q.nominal_disk, q.lending_limit_disk, s.disk);
end $$;

-- Recomputes the ceilings of one cohort's members after one of them changed, and refuses (OM409) a
-- change that would leave a member over its new ceiling or the cohort lending more than it may:
-- lowering a limit does not evict anyone, as a quota below usage is refused (0007).
create function omega.cohort_settle(p_cell text, p_band text, p_cohort text) returns void
language plpgsql as $$
declare
  bad record;
begin
  if p_cohort is null then
    return;
  end if;
  with members as (
    select m.tenant_id, m.nominal_cpu, m.nominal_memory, m.nominal_gpu, m.nominal_disk,
      m.borrowing_limit_cpu, m.borrowing_limit_memory, m.borrowing_limit_gpu, m.borrowing_limit_disk,
      least(coalesce(m.lending_limit_cpu, m.nominal_cpu), m.nominal_cpu) as lend_cpu,
      least(coalesce(m.lending_limit_memory, m.nominal_memory), m.nominal_memory) as lend_memory,
      least(coalesce(m.lending_limit_gpu, m.nominal_gpu), m.nominal_gpu) as lend_gpu,
      least(coalesce(m.lending_limit_disk, m.nominal_disk), m.nominal_disk) as lend_disk
    from omega.quotas m where m.cell = p_cell and m.band = p_band and m.cohort = p_cohort
  ), totals as (
    select sum(lend_cpu) as cpu, sum(lend_memory) as memory, sum(lend_gpu) as gpu, sum(lend_disk) as disk from members
  ), ceilings as (
    select m.tenant_id,
      omega.quota_ceiling(m.nominal_cpu, m.borrowing_limit_cpu, t.cpu - m.lend_cpu) as cpu,
      omega.quota_ceiling(m.nominal_memory, m.borrowing_limit_memory, t.memory - m.lend_memory) as memory,
      omega.quota_ceiling(m.nominal_gpu, m.borrowing_limit_gpu, t.gpu - m.lend_gpu) as gpu,
      omega.quota_ceiling(m.nominal_disk, m.borrowing_limit_disk, t.disk - m.lend_disk) as disk
    from members m cross join totals t
  )
  select tn.name, c.* into bad
  from ceilings c join omega.quotas q on q.cell = p_cell and q.band = p_band and q.tenant_id = c.tenant_id
  join omega.tenants tn on tn.id = c.tenant_id
  where q.used_cpu > c.cpu or q.used_memory > c.memory or q.used_gpu > c.gpu or q.used_disk > c.disk
  limit 1;
  if found then
    raise exception using errcode = 'OM409',
      message = format('%s''s %s claims in %s would be over what cohort %s lets it borrow; cancel work first or lend more',
        bad.name, p_band, p_cell, p_cohort);
  end if;
  update omega.quotas q
  set cpu = c.cpu, memory = c.memory, gpu = c.gpu, disk = c.disk
  from (
    select m.tenant_id,
      omega.quota_ceiling(m.nominal_cpu, m.borrowing_limit_cpu, t.cpu - least(coalesce(m.lending_limit_cpu, m.nominal_cpu), m.nominal_cpu)) as cpu,
      omega.quota_ceiling(m.nominal_memory, m.borrowing_limit_memory, t.memory - least(coalesce(m.lending_limit_memory, m.nominal_memory), m.nominal_memory)) as memory,
      omega.quota_ceiling(m.nominal_gpu, m.borrowing_limit_gpu, t.gpu - least(coalesce(m.lending_limit_gpu, m.nominal_gpu), m.nominal_gpu)) as gpu,
      omega.quota_ceiling(m.nominal_disk, m.borrowing_limit_disk, t.disk - least(coalesce(m.lending_limit_disk, m.nominal_disk), m.nominal_disk)) as disk
    from omega.quotas m
    cross join (select sum(least(coalesce(x.lending_limit_cpu, x.nominal_cpu), x.nominal_cpu)) as cpu,
                       sum(least(coalesce(x.lending_limit_memory, x.nominal_memory), x.nominal_memory)) as memory,
                       sum(least(coalesce(x.lending_limit_gpu, x.nominal_gpu), x.nominal_gpu)) as gpu,
                       sum(least(coalesce(x.lending_limit_disk, x.nominal_disk), x.nominal_disk)) as disk
                from omega.quotas x where x.cell = p_cell and x.band = p_band and x.cohort = p_cohort) t
    where m.cell = p_cell and m.band = p_band and m.cohort = p_cohort
  ) c
  where q.cell = p_cell and q.band = p_band and q.tenant_id = c.tenant_id;
  if exists (
    select from omega.quotas m where m.cell = p_cell and m.band = p_band and m.cohort = p_cohort
    having sum(omega.cohort_slack(m.used_cpu, m.nominal_cpu, m.lending_limit_cpu)) < 0
        or sum(omega.cohort_slack(m.used_memory, m.nominal_memory, m.lending_limit_memory)) < 0
        or sum(omega.cohort_slack(m.used_gpu, m.nominal_gpu, m.lending_limit_gpu)) < 0
        or sum(omega.cohort_slack(m.used_disk, m.nominal_disk, m.lending_limit_disk)) < 0) then
    raise exception using errcode = 'OM409',
      message = format('cohort %s in %s (%s) would lend less than its members borrow now; cancel work first or lend more',
        p_cohort, p_cell, p_band);
  end if;
end $$;

-- A limit object ({cpu?, memory?, gpu?, disk?}) in base units; a dimension left out is null.
create function omega.parse_limits(p_limits jsonb, p_field text)
returns table (cpu bigint, memory bigint, gpu bigint, disk bigint)
language plpgsql immutable as $$
begin
  if p_limits is null or jsonb_typeof(p_limits) = 'null' then
    return query select null::bigint, null::bigint, null::bigint, null::bigint;
    return;
  end if;
  if jsonb_typeof(p_limits) <> 'object' then
    raise exception using errcode = 'OM422', message = format('%s: an object of quantities is required', p_field);
  end if;
  perform omega.check_resources(p_limits);
  return query select
    case when p_limits ? 'cpu' then omega.parse_quantity(p_limits -> 'cpu', 'cpu') end,
    case when p_limits ? 'memory' then omega.parse_quantity(p_limits -> 'memory', 'memory') end,
    case when p_limits ? 'gpu' then omega.parse_quantity(p_limits -> 'gpu', 'gpu') end,
    case when p_limits ? 'disk' then omega.parse_quantity(p_limits -> 'disk', 'disk') end;
end $$;

-- put_quota (0007) with a cohort and its limits. The same contract for a quota without one; the
-- return row grows by the sharing fields, so the function is dropped and created again.
drop function omega.put_quota(text, text, text, jsonb);
create function omega.put_quota(p_tenant text, p_cell text, p_band text, p_resources jsonb,
  p_cohort text default null, p_borrowing_limit jsonb default null, p_lending_limit jsonb default null)
returns table (created boolean, cpu bigint, memory bigint, gpu bigint, disk bigint,
               used_cpu bigint, used_memory bigint, used_gpu bigint, used_disk bigint)
language plpgsql as $$
#variable_conflict use_column
declare
  v_tenant bigint;
  lim record;
  bl record;
  ll record;
  use record;
  v_created boolean;
  v_old_cohort text;
begin
  if p_band not in ('batch', 'production') then
    raise exception using errcode = 'OM422',
      message = format('quotas are set for the batch and production bands, not %L', p_band);
  end if;
  select id into v_tenant from omega.tenants where name = p_tenant;
  if v_tenant is null then
    raise exception using errcode = 'OM404', message = format('tenant "%s" does not exist', p_tenant);
  end if;
  if not exists (select from omega.cells where name = p_cell) then
    raise exception using errcode = 'OM404', message = format('cell "%s" does not exist', p_cell);
  end if;
  perform omega.check_resources(p_resources);
  if p_cohort is not null and p_cohort !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' then
    raise exception using errcode = 'OM422', message = 'cohort: a name of lowercase letters, digits and ''-'' is required';
  end if;
  if p_cohort is null and (coalesce(jsonb_typeof(p_borrowing_limit), 'null') <> 'null'
                           or coalesce(jsonb_typeof(p_lending_limit), 'null') <> 'null') then
    raise exception using errcode = 'OM422', message = 'borrowingLimit and lendingLimit need a cohort';
  end if;
  select * into bl from omega.parse_limits(p_borrowing_limit, 'borrowingLimit');
  select * into ll from omega.parse_limits(p_lending_limit, 'lendingLimit');
  -- A dimension left out is not limited.
  select case when p_resources ? 'cpu' then omega.parse_quantity(p_resources -> 'cpu', 'cpu') else 1000000000000 end as cpu,
         case when p_resources ? 'memory' then omega.parse_quantity(p_resources -> 'memory', 'memory') else 1000000000000 end as memory,
         case when p_resources ? 'gpu' then omega.parse_quantity(p_resources -> 'gpu', 'gpu') else 1000000000000 end as gpu,
         case when p_resources ? 'disk' then omega.parse_quantity(p_resources -> 'disk', 'disk') else 1000000000000 end as disk
    into lim;
  perform pg_advisory_xact_lock(omega.quota_lock_key(p_cell));
  select coalesce(sum(c.cpu), 0) as cpu, coalesce(sum(c.memory), 0) as memory,
         coalesce(sum(c.gpu), 0) as gpu, coalesce(sum(c.disk), 0) as disk
    into use
  from omega.claims c
  where c.cell = p_cell and c.tenant_id = v_tenant and omega.band(c.priority) = p_band;
  -- Without a cohort nothing is borrowed: usage must fit the quota itself. (A member's usage is
  -- checked against its ceiling once the cohort's ceilings are recomputed.)
  if p_cohort is null and (use.cpu > lim.cpu or use.memory > lim.memory or use.gpu > lim.gpu or use.disk > lim.disk) then
    raise exception using errcode = 'OM409',
      message = format('the quota is below what %s''s %s claims in %s already use '
        '(cpu %s, memory %s, gpu %s, disk %s); cancel work first or set a higher limit',
        p_tenant, p_band, p_cell, use.cpu, use.memory, use.gpu, use.disk);
  end if;
  select q.cohort into v_old_cohort from omega.quotas q
  where q.cell = p_cell and q.tenant_id = v_tenant and q.band = p_band for update;
  -- The ceiling starts as high as usage needs (so the row's CHECKs hold) and is settled below.
  insert into omega.quotas as q (cell, tenant_id, band, cpu, memory, gpu, disk, used_cpu, used_memory, used_gpu, used_disk,
    nominal_cpu, nominal_memory, nominal_gpu, nominal_disk, cohort,
    borrowing_limit_cpu, borrowing_limit_memory, borrowing_limit_gpu, borrowing_limit_disk,
    lending_limit_cpu, lending_limit_memory, lending_limit_gpu, lending_limit_disk)
  values (p_cell, v_tenant, p_band, greatest(lim.cpu, use.cpu), greatest(lim.memory, use.memory),
    greatest(lim.gpu, use.gpu), greatest(lim.disk, use.disk), use.cpu, use.memory, use.gpu, use.disk,
    lim.cpu, lim.memory, lim.gpu, lim.disk, p_cohort, bl.cpu, bl.memory, bl.gpu, bl.disk, ll.cpu, ll.memory, ll.gpu, ll.disk)
  on conflict (cell, tenant_id, band) do update
    set cpu = excluded.cpu, memory = excluded.memory, gpu = excluded.gpu, disk = excluded.disk,
        used_cpu = excluded.used_cpu, used_memory = excluded.used_memory,
        used_gpu = excluded.used_gpu, used_disk = excluded.used_disk,
        nominal_cpu = excluded.nominal_cpu, nominal_memory = excluded.nominal_memory,
        nominal_gpu = excluded.nominal_gpu, nominal_disk = excluded.nominal_disk, cohort = excluded.cohort,
        borrowing_limit_cpu = excluded.borrowing_limit_cpu, borrowing_limit_memory = excluded.borrowing_limit_memory,
        borrowing_limit_gpu = excluded.borrowing_limit_gpu, borrowing_limit_disk = excluded.borrowing_limit_disk,
        lending_limit_cpu = excluded.lending_limit_cpu, lending_limit_memory = excluded.lending_limit_memory,
        lending_limit_gpu = excluded.lending_limit_gpu, lending_limit_disk = excluded.lending_limit_disk
  returning (xmax = 0) into v_created;
  -- The cohort it leaves and the one it joins (maybe the same): their ceilings and invariant.
  perform omega.cohort_settle(p_cell, p_band, v_old_cohort);
  if p_cohort is distinct from v_old_cohort then
    perform omega.cohort_settle(p_cell, p_band, p_cohort);
  end if;
  if p_cohort is null then
    update omega.quotas q set cpu = lim.cpu, memory = lim.memory, gpu = lim.gpu, disk = lim.disk
    where q.cell = p_cell and q.tenant_id = v_tenant and q.band = p_band;
  end if;
  perform omega.capacity_freed(p_cell);
  return query select v_created, lim.cpu::bigint, lim.memory::bigint, lim.gpu::bigint, lim.disk::bigint,
    use.cpu::bigint, use.memory::bigint, use.gpu::bigint, use.disk::bigint;
end $$;
call omega.grant_entry_point('put_quota', '{omega_api}');

-- quota_usage (0006) with what cohorts add: limit_* is the nominal quota (what the admin set, as
-- before), and nominal_*, borrowed_*, lent_*, the cohort and its limits follow. What a cohort
-- borrows is shown as lent by its members in tenant order, each up to what it can lend now.
create or replace view omega.quota_usage as
with shared as (
  select q.*,
    greatest(q.used_cpu - q.nominal_cpu, 0) as borrowed_cpu, greatest(q.used_memory - q.nominal_memory, 0) as borrowed_memory,
    greatest(q.used_gpu - q.nominal_gpu, 0) as borrowed_gpu, greatest(q.used_disk - q.nominal_disk, 0) as borrowed_disk,
    least(coalesce(q.lending_limit_cpu, q.nominal_cpu), greatest(q.nominal_cpu - q.used_cpu, 0)) as lendable_cpu,
    least(coalesce(q.lending_limit_memory, q.nominal_memory), greatest(q.nominal_memory - q.used_memory, 0)) as lendable_memory,
    least(coalesce(q.lending_limit_gpu, q.nominal_gpu), greatest(q.nominal_gpu - q.used_gpu, 0)) as lendable_gpu,
    least(coalesce(q.lending_limit_disk, q.nominal_disk), greatest(q.nominal_disk - q.used_disk, 0)) as lendable_disk
  from omega.quotas q
), ranked as (
  select s.*,
    coalesce(sum(s.borrowed_cpu) over c, 0) as c_borrowed_cpu, coalesce(sum(s.borrowed_memory) over c, 0) as c_borrowed_memory,
    coalesce(sum(s.borrowed_gpu) over c, 0) as c_borrowed_gpu, coalesce(sum(s.borrowed_disk) over c, 0) as c_borrowed_disk,
    coalesce(sum(s.lendable_cpu) over before, 0) as before_cpu, coalesce(sum(s.lendable_memory) over before, 0) as before_memory,
    coalesce(sum(s.lendable_gpu) over before, 0) as before_gpu, coalesce(sum(s.lendable_disk) over before, 0) as before_disk
  from shared s
  window c as (partition by s.cell, s.band, s.cohort),
         before as (partition by s.cell, s.band, s.cohort order by s.tenant_id rows between unbounded preceding and 1 preceding)
)
select tn.name as tenant, r.cell, r.band,
  r.nominal_cpu as limit_cpu, r.nominal_memory as limit_memory, r.nominal_gpu as limit_gpu, r.nominal_disk as limit_disk,
  r.used_cpu, r.used_memory, r.used_gpu, r.used_disk,
  r.cohort,
  r.nominal_cpu, r.nominal_memory, r.nominal_gpu, r.nominal_disk,
  r.borrowed_cpu::bigint, r.borrowed_memory::bigint, r.borrowed_gpu::bigint, r.borrowed_disk::bigint,
  (case when r.cohort is null then 0 else least(r.lendable_cpu, greatest(r.c_borrowed_cpu - r.before_cpu, 0)) end)::bigint as lent_cpu,
  (case when r.cohort is null then 0 else least(r.lendable_memory, greatest(r.c_borrowed_memory - r.before_memory, 0)) end)::bigint as lent_memory,
  (case when r.cohort is null then 0 else least(r.lendable_gpu, greatest(r.c_borrowed_gpu - r.before_gpu, 0)) end)::bigint as lent_gpu,
  (case when r.cohort is null then 0 else least(r.lendable_disk, greatest(r.c_borrowed_disk - r.before_disk, 0)) end)::bigint as lent_disk,
  r.borrowing_limit_cpu, r.borrowing_limit_memory, r.borrowing_limit_gpu, r.borrowing_limit_disk,
  r.lending_limit_cpu, r.lending_limit_memory, r.lending_limit_gpu, r.lending_limit_disk,
  -- The most its claims may use now: its nominal quota plus what it may borrow at most.
  r.cpu as ceiling_cpu, r.memory as ceiling_memory, r.gpu as ceiling_gpu, r.disk as ceiling_disk
from ranked r
join omega.tenants tn on tn.id = r.tenant_id;
