import type { Pool } from "../../src/db/pool.ts";

/**
 * SPEC.md's invariants, and the bookkeeping they rest on, as SQL: each query returns one row per
 * violation with a description. An empty list means every one holds at that instant.
 *
 * (Invariant 6, gangs, holds at placement; once tasks finish or are lost a running gang job may
 * legitimately hold fewer claims, so it is checked where gangs are placed, not here. Invariant 5 is
 * the preemption code's.)
 */
const CHECKS: Record<string, string> = {
  "1. claims within capacity; machine usage is the sum of its claims": `
    select format('machine %s: used %s/%s/%s/%s, claims %s/%s/%s/%s, capacity %s/%s/%s/%s', m.name,
      m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, coalesce(c.cpu, 0), coalesce(c.memory, 0),
      coalesce(c.gpu, 0), coalesce(c.disk, 0), m.cpu, m.memory, m.gpu, m.disk)
    from omega.machines m
    left join (select cell, machine_id, sum(cpu) cpu, sum(memory) memory, sum(gpu) gpu, sum(disk) disk, count(*) n
               from omega.claims group by 1, 2) c on c.cell = m.cell and c.machine_id = m.id
    where coalesce(c.cpu, 0) > m.cpu or coalesce(c.memory, 0) > m.memory or coalesce(c.gpu, 0) > m.gpu
       or coalesce(c.disk, 0) > m.disk
       or (m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks)
          <> (coalesce(c.cpu, 0), coalesce(c.memory, 0), coalesce(c.gpu, 0), coalesce(c.disk, 0), coalesce(c.n, 0))`,
  "2. placed and running tasks hold exactly one claim, others none": `
    select format('task %s (%s) has %s claims', t.id, t.state, count(c.task_id))
    from omega.tasks t left join omega.claims c on c.cell = t.cell and c.task_id = t.id
    group by t.cell, t.id, t.state
    having count(c.task_id) <> case when t.state in ('placed', 'running') then 1 else 0 end`,
  "2. a claim belongs to its task's job": `
    select format('claim of task %s names job %s, the task is of job %s', c.task_id, c.job_id, t.job_id)
    from omega.claims c join omega.tasks t on t.cell = c.cell and t.id = c.task_id where t.job_id <> c.job_id`,
  "3. quotas hold": `
    select format('%s in %s (%s) uses more than its quota', tenant, cell, band) from omega.quota_usage
    where used_cpu > limit_cpu or used_memory > limit_memory or used_gpu > limit_gpu or used_disk > limit_disk`,
  "4. claims match their machine's labels and taints, and maxPerMachine": `
    select format('task %s on %s breaks its constraints', c.task_id, m.name)
    from omega.claims c
    join omega.jobs j on j.cell = c.cell and j.id = c.job_id
    join omega.machines m on m.cell = c.cell and m.id = c.machine_id
    where not omega.constraints_match(m.labels, m.taints, j.selector, j.affinity, j.tolerations)
    union all
    select format('job %s has %s claims on machine %s (max %s)', j.id, count(*), c.machine_id, j.max_per_machine)
    from omega.claims c join omega.jobs j on j.cell = c.cell and j.id = c.job_id
    where j.max_per_machine is not null
    group by j.id, c.machine_id, j.max_per_machine having count(*) > j.max_per_machine`,
  "7. a cancelled job holds no claims": `
    select format('cancelled job %s holds %s claims', j.id, count(*))
    from omega.jobs j join omega.claims c on c.cell = j.cell and c.job_id = j.id
    where j.state = 'cancelled' group by j.id`,
  "job counters and states agree with their tasks": `
    select format('job %s (%s): pending_count %s, succeeded %s, failed %s; tasks: %s pending, %s succeeded, %s failed, %s unfinished',
      j.id, j.state, j.pending_count, j.succeeded_count, j.failed_count, t.pending, t.succeeded, t.failed, t.unfinished)
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
};

export async function invariantViolations(pool: Pool): Promise<string[]> {
  const found: string[] = [];
  for (const [name, sql] of Object.entries(CHECKS)) {
    const { rows } = await pool.query<{ format: string }>(sql);
    for (const row of rows) found.push(`${name}: ${row.format}`);
  }
  return found;
}
