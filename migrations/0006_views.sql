-- The stable SQL surface for inspection (documented in the README).

create view omega.machine_usage as
select m.cell, m.name as machine, m.state,
  m.cpu as capacity_cpu, m.memory as capacity_memory, m.gpu as capacity_gpu, m.disk as capacity_disk,
  coalesce(c.cpu, 0)::bigint as used_cpu, coalesce(c.memory, 0)::bigint as used_memory,
  coalesce(c.gpu, 0)::bigint as used_gpu, coalesce(c.disk, 0)::bigint as used_disk,
  coalesce(c.tasks, 0)::integer as tasks,
  m.labels, m.taints, m.version, m.id as machine_id
from omega.machines m
left join (
  select cell, machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk,
    count(*) as tasks
  from omega.claims group by cell, machine_id
) c on c.cell = m.cell and c.machine_id = m.id;

create view omega.placements as
select c.cell, c.job_id, c.task_id, m.name as machine, t.name as tenant, c.priority,
  c.cpu, c.memory, c.gpu, c.disk, c.scheduler, c.placed_at, tk.index as task_index, c.plan_id
from omega.claims c
join omega.machines m on m.cell = c.cell and m.id = c.machine_id
join omega.tenants t on t.id = c.tenant_id
join omega.tasks tk on tk.cell = c.cell and tk.id = c.task_id;

create view omega.pending_tasks as
select t.cell, t.job_id, t.id as task_id, tn.name as tenant, j.priority, j.scheduler,
  t.pending_since,
  coalesce(t.reason, 'waiting for the ' || j.scheduler || ' scheduler') as reason,
  j.blocked
from omega.tasks t
join omega.jobs j on j.cell = t.cell and j.id = t.job_id
join omega.tenants tn on tn.id = j.tenant_id
where t.state = 'pending';

-- Usage is the quota row's own, kept by the claims trigger (0007) and checked against its limit.
create view omega.quota_usage as
select tn.name as tenant, q.cell, q.band,
  q.cpu as limit_cpu, q.memory as limit_memory, q.gpu as limit_gpu, q.disk as limit_disk,
  q.used_cpu, q.used_memory, q.used_gpu, q.used_disk
from omega.quotas q
join omega.tenants tn on tn.id = q.tenant_id;

-- Omega's conflict fraction: conflicted transactions per successful transaction (a plan with at
-- least one rejected placement is a conflict; it can exceed 1 when schedulers keep colliding).
create view omega.scheduler_stats as
select s.name as scheduler,
  count(p.id) as plans,
  coalesce(sum(p.attempted), 0)::bigint as placements_attempted,
  coalesce(sum(p.committed), 0)::bigint as placements_committed,
  count(p.id) filter (where p.committed < p.attempted) as conflicts,
  coalesce(count(p.id) filter (where p.committed < p.attempted)::double precision
    / nullif(count(p.id) filter (where p.committed > 0), 0), 0) as conflict_fraction,
  coalesce(sum(p.attempted - p.committed), 0)::bigint as placements_rejected,
  coalesce(avg(p.duration_ms), 0) as avg_commit_ms
from omega.schedulers s
left join omega.plans p on p.scheduler = s.name
group by s.name;
