import type { Pool } from "../../src/db/pool.ts";
import { failedAffinityTerms, untoleratedTaints } from "./sql-rules.ts";

/**
 * The invariants of SPEC.md, checked by plain SQL over the base tables (machines, jobs, tasks,
 * claims, quotas) — never through the views or the product's own rule functions, so a bug there
 * cannot hide a violation. Each check returns the offending rows; a healthy database returns none.
 *
 * Assumes machines keep their labels and taints once work is placed on them (a relabelled machine
 * may legitimately hold claims its new labels would refuse).
 */
export interface Violation {
  invariant: string;
  row: Record<string, unknown>;
}

/**
 * SQL: job `j` still holds exactly what placement gave it. Invariant 6 is about placement: once a
 * gang's tasks run, finish, fail, are lost with their machine or evicted in a whole-gang
 * preemption, it may legitimately hold fewer claims than minAvailable.
 */
const GANG_AS_PLACED = (j: string) => `
  not exists (select from omega.tasks t where t.cell = ${j}.cell and t.job_id = ${j}.id
              and (t.state in ('running', 'succeeded', 'failed') or t.attempts > 0))
  and not exists (select from omega.events e where e.cell = ${j}.cell and e.job_id = ${j}.id
                  and e.kind in ('lost', 'preempted', 'returned'))`;

/** SQL: each quota row with what its tenant's claims in its cell and band hold (`claimed_*`). */
const QUOTAS_CLAIMED = `
  select q.*, coalesce(s.cpu, 0) as claimed_cpu, coalesce(s.memory, 0) as claimed_memory,
    coalesce(s.gpu, 0) as claimed_gpu, coalesce(s.disk, 0) as claimed_disk
  from omega.quotas q
  left join (select cell, tenant_id, case when priority < 100 then 'best-effort' when priority < 200
               then 'batch' else 'production' end as band,
               sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk
             from omega.claims group by 1, 2, 3) s
    on s.cell = q.cell and s.tenant_id = q.tenant_id and s.band = q.band`;

/** Invariant 3 with cohorts (SPEC "Sharing"), and the bookkeeping fair sharing reads. */
const SHARING_CHECKS: readonly { invariant: string; sql: string }[] = [
  {
    invariant: "3 quota: a tenant's claims exceed its quota (no cohort) or the row's usage is not their sum",
    sql: `
      select q.cell, q.tenant_id, q.band, q.nominal_cpu, q.used_cpu, q.claimed_cpu
      from (${QUOTAS_CLAIMED}) q
      where (q.cohort is null and (q.claimed_cpu > q.nominal_cpu or q.claimed_memory > q.nominal_memory
               or q.claimed_gpu > q.nominal_gpu or q.claimed_disk > q.nominal_disk))
        or (q.used_cpu, q.used_memory, q.used_gpu, q.used_disk)
          <> (q.claimed_cpu, q.claimed_memory, q.claimed_gpu, q.claimed_disk)`,
  },
  {
    invariant: "3 cohort: a member's claims exceed its nominal quota plus its borrowingLimit",
    sql: `
      select q.cell, q.tenant_id, q.band, q.cohort, q.nominal_cpu, q.borrowing_limit_cpu, q.claimed_cpu
      from (${QUOTAS_CLAIMED}) q
      where q.cohort is not null
        and (q.claimed_cpu > q.nominal_cpu + coalesce(q.borrowing_limit_cpu, q.claimed_cpu)
          or q.claimed_memory > q.nominal_memory + coalesce(q.borrowing_limit_memory, q.claimed_memory)
          or q.claimed_gpu > q.nominal_gpu + coalesce(q.borrowing_limit_gpu, q.claimed_gpu)
          or q.claimed_disk > q.nominal_disk + coalesce(q.borrowing_limit_disk, q.claimed_disk))`,
  },
  {
    invariant:
      "3 cohort: members borrow more than the others' unused nominal quota within their lendingLimits",
    sql: `
      select q.cell, q.band, q.cohort,
        sum(greatest(q.claimed_cpu - q.nominal_cpu, 0)) as borrowed_cpu,
        sum(least(coalesce(q.lending_limit_cpu, q.nominal_cpu), greatest(q.nominal_cpu - q.claimed_cpu, 0))) as lendable_cpu,
        sum(greatest(q.claimed_memory - q.nominal_memory, 0)) as borrowed_memory,
        sum(least(coalesce(q.lending_limit_memory, q.nominal_memory), greatest(q.nominal_memory - q.claimed_memory, 0))) as lendable_memory
      from (${QUOTAS_CLAIMED}) q
      where q.cohort is not null
      group by q.cell, q.band, q.cohort
      having sum(greatest(q.claimed_cpu - q.nominal_cpu, 0))
          > sum(least(coalesce(q.lending_limit_cpu, q.nominal_cpu), greatest(q.nominal_cpu - q.claimed_cpu, 0)))
        or sum(greatest(q.claimed_memory - q.nominal_memory, 0))
          > sum(least(coalesce(q.lending_limit_memory, q.nominal_memory), greatest(q.nominal_memory - q.claimed_memory, 0)))
        or sum(greatest(q.claimed_gpu - q.nominal_gpu, 0))
          > sum(least(coalesce(q.lending_limit_gpu, q.nominal_gpu), greatest(q.nominal_gpu - q.claimed_gpu, 0)))
        or sum(greatest(q.claimed_disk - q.nominal_disk, 0))
          > sum(least(coalesce(q.lending_limit_disk, q.nominal_disk), greatest(q.nominal_disk - q.claimed_disk, 0)))`,
  },
  {
    invariant: "fair share: a tenant's usage rows (omega.tenant_usage) differ from the sums of its claims",
    sql: `
      select coalesce(u.cell, c.cell) as cell, coalesce(u.tenant_id, c.tenant_id) as tenant_id,
        u.cpu, c.cpu as claimed_cpu, u.n as tasks, c.n as claims
      from (select cell, tenant_id, sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk, sum(tasks) n
            from omega.tenant_usage group by 1, 2) u
      full join (select cell, tenant_id, sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk, count(*) n
                 from omega.claims group by 1, 2) c on c.cell = u.cell and c.tenant_id = u.tenant_id
      where (coalesce(u.cpu, 0), coalesce(u.memory, 0), coalesce(u.gpu, 0), coalesce(u.disk, 0), coalesce(u.n, 0))
        <> (coalesce(c.cpu, 0), coalesce(c.memory, 0), coalesce(c.gpu, 0), coalesce(c.disk, 0), coalesce(c.n, 0))`,
  },
  {
    invariant: "5 reclaim: a reclaimed claim was not borrowed from its cohort at the time, or was production",
    sql: `
      select e.task_id as victim_task, v.id as victim_job, v.priority
      from omega.events e
      join omega.jobs v on v.cell = e.cell and v.id = e.job_id
      where e.kind = 'preempted' and e.reason like 'reclaim%'
        and (v.priority >= 200 or not exists (
          select from omega.quotas q where q.cell = v.cell and q.tenant_id = v.tenant_id and q.cohort is not null
            and q.band = case when v.priority < 200 then 'batch' else 'production' end))`,
  },
];

const CHECKS: readonly { invariant: string; sql: string }[] = [
  {
    invariant: "1 capacity: claims on a machine exceed its capacity",
    sql: `
      select m.name, m.cpu, m.memory, m.gpu, m.disk, s.cpu as claimed_cpu, s.memory as claimed_memory,
        s.gpu as claimed_gpu, s.disk as claimed_disk
      from omega.machines m
      join (select cell, machine_id, sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk
            from omega.claims group by 1, 2) s on s.cell = m.cell and s.machine_id = m.id
      where s.cpu > m.cpu or s.memory > m.memory or s.gpu > m.gpu or s.disk > m.disk`,
  },
  {
    // Issue 17: a machine holds at most max_tasks claims (Kubernetes' max pods), whatever they ask.
    invariant: "1b task cap: a machine holds more claims than its max_tasks",
    sql: `
      select m.name, m.max_tasks, count(c.task_id)::int as claims
      from omega.machines m
      join omega.claims c on c.cell = m.cell and c.machine_id = m.id
      group by m.cell, m.id, m.name, m.max_tasks
      having count(c.task_id) > m.max_tasks`,
  },
  {
    invariant: "1 capacity: machines.used_* and tasks differ from the sums of its claims",
    sql: `
      select m.name, m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks,
        coalesce(s.cpu, 0) as claimed_cpu, coalesce(s.memory, 0) as claimed_memory,
        coalesce(s.gpu, 0) as claimed_gpu, coalesce(s.disk, 0) as claimed_disk, coalesce(s.n, 0) as claims
      from omega.machines m
      left join (select cell, machine_id, sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk, count(*) n
                 from omega.claims group by 1, 2) s on s.cell = m.cell and s.machine_id = m.id
      where (m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks)
        is distinct from (coalesce(s.cpu, 0), coalesce(s.memory, 0), coalesce(s.gpu, 0), coalesce(s.disk, 0),
                          coalesce(s.n, 0)::int)`,
  },
  {
    invariant: "2 one claim per task: a task holds more than one claim",
    sql: "select cell, task_id, count(*) as claims from omega.claims group by 1, 2 having count(*) > 1",
  },
  {
    invariant: "2 one claim per task: placed/running tasks hold exactly one, others none",
    sql: `
      select t.cell, t.job_id, t.id as task_id, t.state, count(c.task_id) as claims
      from omega.tasks t
      left join omega.claims c on c.cell = t.cell and c.task_id = t.id
      group by t.cell, t.job_id, t.id, t.state
      having count(c.task_id) <> case when t.state in ('placed', 'running') then 1 else 0 end`,
  },
  {
    invariant: "2 one claim per task: a claim disagrees with its task's job (job id, resources, priority)",
    sql: `
      select c.task_id, c.job_id, t.job_id as task_job_id
      from omega.claims c
      join omega.tasks t on t.cell = c.cell and t.id = c.task_id
      join omega.jobs j on j.cell = t.cell and j.id = t.job_id
      where c.job_id <> t.job_id or c.tenant_id <> j.tenant_id or c.priority <> j.priority
        or (c.cpu, c.memory, c.gpu, c.disk) <> (j.cpu, j.memory, j.gpu, j.disk)`,
  },
  {
    invariant: "2 bookkeeping: a job's pending_count or state disagrees with its tasks",
    sql: `
      select j.cell, j.id as job_id, j.state, j.pending_count, count(*) filter (where t.state = 'pending') as pending
      from omega.jobs j join omega.tasks t on t.cell = j.cell and t.job_id = j.id
      group by j.cell, j.id, j.state, j.pending_count
      having j.pending_count <> count(*) filter (where t.state = 'pending')
        or (j.state = 'pending') <> (count(*) filter (where t.state = 'pending') > 0 or j.waiting_on > 0)
          and j.state <> 'cancelled'`,
  },
  {
    // Issue 14: a reservation (a held task's claim) exists only while its job waits for dependencies,
    // and a job that waits has started nothing.
    invariant: "reservations: a held task outside a waiting job, or a waiting job with a started task",
    sql: `
      select j.id as job_id, j.state, j.waiting_on, t.id as task_id, t.state as task_state, t.held
      from omega.jobs j join omega.tasks t on t.cell = j.cell and t.job_id = j.id
      where (t.held and t.state in ('pending', 'placed') and j.waiting_on = 0 and j.state not in ('cancelled'))
         or (j.waiting_on > 0 and j.state <> 'cancelled' and (j.state <> 'pending' or t.state not in ('pending', 'placed') or not t.held and t.state = 'placed'))`,
  },
  {
    invariant: "4 constraints: a claim on a machine that does not match the job's selector",
    sql: `
      select c.task_id, c.job_id, m.name as machine, m.labels, j.selector
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id
      join omega.machines m on m.cell = c.cell and m.id = c.machine_id
      where not m.labels @> j.selector`,
  },
  {
    invariant: "4 constraints: a claim on a machine that fails an affinity term",
    sql: `
      select c.task_id, c.job_id, m.name as machine, m.labels, term
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id
      join omega.machines m on m.cell = c.cell and m.id = c.machine_id
      cross join lateral (${failedAffinityTerms("j", "m")}) failed`,
  },
  {
    invariant: "4 constraints: a claim on a machine with a taint the job does not tolerate",
    sql: `
      select c.task_id, c.job_id, m.name as machine, taint, j.tolerations
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id
      join omega.machines m on m.cell = c.cell and m.id = c.machine_id
      cross join lateral (${untoleratedTaints("j", "m")}) untolerated`,
  },
  {
    invariant: "4 constraints: more claims of a job on one machine than its maxPerMachine",
    sql: `
      select c.job_id, m.name as machine, count(*) as claims, j.max_per_machine
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id
      join omega.machines m on m.cell = c.cell and m.id = c.machine_id
      where j.max_per_machine is not null
      group by c.job_id, m.name, j.max_per_machine
      having count(*) > j.max_per_machine`,
  },
  {
    invariant: "4 ports: two claims on one machine hold the same host port",
    sql: `
      select c1.task_id, c2.task_id as other_task, c1.machine_id, p.port
      from omega.claims c1
      join omega.jobs j1 on j1.cell = c1.cell and j1.id = c1.job_id and j1.ports <> '{}'
      cross join lateral unnest(j1.ports) p(port)
      join omega.claims c2 on c2.cell = c1.cell and c2.machine_id = c1.machine_id and c2.task_id > c1.task_id
      join omega.jobs j2 on j2.cell = c2.cell and j2.id = c2.job_id
      where p.port = any (j2.ports)`,
  },
  {
    invariant: "4 ports: a claim of a job with host ports that does not hold them",
    sql: `
      select c.task_id, c.machine_id, p.port
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id and j.ports <> '{}'
      cross join lateral unnest(j.ports) p(port)
      where not exists (select from omega.claim_ports cp where cp.cell = c.cell and cp.machine_id = c.machine_id
                        and cp.port = p.port and cp.task_id = c.task_id)`,
  },
  {
    invariant:
      "4 job anti-affinity: a claim in a domain where a task of a job it repels (or that repels it) holds one",
    sql: `
      select c.task_id, other.task_id as other_task, t.term
      from omega.claims c
      join omega.jobs j on j.cell = c.cell and j.id = c.job_id and j.vocabulary ? 'jobAntiAffinity'
      join omega.machines m on m.cell = c.cell and m.id = c.machine_id
      cross join lateral jsonb_array_elements(j.vocabulary -> 'jobAntiAffinity') t(term)
      join omega.claims other on other.cell = c.cell and other.task_id <> c.task_id
      join omega.jobs k on k.cell = other.cell and k.id = other.job_id and k.labels @> (t.term -> 'selector')
      join omega.machines om on om.cell = other.cell and om.id = other.machine_id
      where case when t.term ->> 'topologyKey' = 'machine' then om.id = m.id
                 else om.labels ->> (t.term ->> 'topologyKey') = m.labels ->> (t.term ->> 'topologyKey') end`,
  },
  {
    invariant: "4 topology spread: a job placed past a DoNotSchedule maxSkew",
    sql: `
      select j.id as job_id, t.term, max(d.n) - min(d.n) as skew
      from omega.jobs j
      cross join lateral jsonb_array_elements(j.vocabulary -> 'topologySpread') t(term)
      cross join lateral (
        select case when t.term ->> 'topologyKey' = 'machine' then m.id::text else m.labels ->> (t.term ->> 'topologyKey') end as dom,
          count(c.task_id) as n
        from omega.machines m
        left join omega.claims c on c.cell = m.cell and c.machine_id = m.id and c.job_id = j.id
        where m.cell = j.cell and m.state = 'up' and (t.term ->> 'topologyKey' = 'machine' or m.labels ? (t.term ->> 'topologyKey'))
          and m.labels @> j.selector
        group by 1) d
      where j.vocabulary ? 'topologySpread' and coalesce(t.term ->> 'whenUnsatisfiable', 'DoNotSchedule') = 'DoNotSchedule'
        and j.affinity = '[]' and ${GANG_AS_PLACED("j")}
      group by j.id, t.term
      having max(d.n) - min(d.n) > (t.term ->> 'maxSkew')::integer`,
  },
  {
    invariant: "6 gang: a gang job holds claims but fewer than minAvailable",
    sql: `
      select j.id as job_id, j.gang_min, count(c.task_id) as claims
      from omega.jobs j
      join omega.claims c on c.cell = j.cell and c.job_id = j.id
      where j.gang_min is not null and ${GANG_AS_PLACED("j")}
      group by j.id, j.gang_min
      having count(c.task_id) < j.gang_min`,
  },
  {
    // Atomicity, not just the count: the plan that first placed the gang placed minAvailable at once.
    invariant: "6 gang: a gang job's first plan placed fewer than minAvailable of its tasks",
    sql: `
      select j.id as job_id, j.gang_min, first.plan_id, count(c.task_id) as claims_in_first_plan
      from omega.jobs j
      join (select cell, job_id, min(plan_id) as plan_id from omega.claims group by 1, 2) first
        on first.cell = j.cell and first.job_id = j.id
      join omega.claims c on c.cell = j.cell and c.job_id = j.id and c.plan_id is not distinct from first.plan_id
      where j.gang_min is not null and ${GANG_AS_PLACED("j")}
      group by j.id, j.gang_min, first.plan_id
      having count(c.task_id) < j.gang_min`,
  },
  ...SHARING_CHECKS,
  {
    // Every eviction is recorded as a 'preempted' event naming the job that took the room.
    invariant: "5 preemption: a victim was not of strictly lower priority, or production evicted production",
    sql: `
      select e.task_id as victim_task, v.id as victim_job, v.priority as victim_priority,
        p.id as preemptor_job, p.priority as preemptor_priority
      from omega.events e
      join omega.jobs v on v.cell = e.cell and v.id = e.job_id
      join omega.jobs p on p.cell = e.cell
        and p.id = substring(e.reason from '^preempted by job ([0-9]+)')::bigint
      where e.kind = 'preempted'
        and (v.priority >= p.priority or (v.priority >= 200 and p.priority >= 200))`,
  },
  {
    invariant: "job counters and states agree with their tasks",
    sql: `
      select j.id as job_id, j.state, j.pending_count, j.succeeded_count, j.failed_count,
        t.pending, t.succeeded, t.failed, t.unfinished
      from omega.jobs j
      join (select cell, job_id, count(*) filter (where state = 'pending') pending,
              count(*) filter (where state = 'succeeded') succeeded, count(*) filter (where state = 'failed') failed,
              count(*) filter (where state in ('pending', 'placed', 'running')) unfinished
            from omega.tasks group by 1, 2) t on t.cell = j.cell and t.job_id = j.id
      where (j.state <> 'cancelled' and (j.pending_count, j.succeeded_count, j.failed_count) <> (t.pending, t.succeeded, t.failed))
         or (j.state = 'succeeded' and (t.unfinished > 0 or t.failed > 0))
         or (j.state = 'failed' and (t.unfinished > 0 or t.failed = 0))
         or (j.state = 'cancelled' and t.unfinished > 0)
         or (j.state in ('placed', 'running', 'pending') and t.unfinished = 0)`,
  },
  {
    invariant: "7 cancelled: a cancelled job holds claims",
    sql: `
      select j.id as job_id, count(*) as claims
      from omega.jobs j join omega.claims c on c.cell = j.cell and c.job_id = j.id
      where j.state = 'cancelled'
      group by j.id`,
  },
];

/** The cohort and fair-share checks alone (also part of invariantViolations). */
export function cohortViolations(pool: Pool): Promise<Violation[]> {
  return violationsOf(pool, SHARING_CHECKS);
}

/**
 * Every violation of the SPEC.md invariants in the database, read in one repeatable-read snapshot
 * (so it can run while schedulers commit). An empty list means all invariants hold.
 */
export function invariantViolations(pool: Pool): Promise<Violation[]> {
  return violationsOf(pool, CHECKS);
}

async function violationsOf(
  pool: Pool,
  checks: readonly { invariant: string; sql: string }[],
): Promise<Violation[]> {
  const client = await pool.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const violations: Violation[] = [];
    for (const { invariant, sql } of checks) {
      const { rows } = await client.query(sql);
      violations.push(...rows.map((row) => ({ invariant, row })));
    }
    await client.query("commit");
    return violations;
  } finally {
    await client.query("rollback").catch(() => {});
    client.release();
  }
}

export { schedulableButPending } from "./schedulable.ts";
