import { createPool } from "../db/pool.ts";

export const CEILING_BATCH = 1_000;

export interface CeilingResult {
  connections: number;
  placed: number;
  seconds: number;
  placementsPerSecond: number;
}

interface TaskRow {
  id: number;
  job_id: number;
  tenant_id: number;
  priority: number;
  cpu: number;
  memory: number;
}

/**
 * The write ceiling: what PostgreSQL alone can commit here. Every pending task of the cell gets a
 * claim, with the cheapest correct batched SQL and no scheduling logic: `connections` connections
 * on disjoint machine ranges (no lock waits), each committing batches of 1,000 claims in one
 * statement together with what keeps the database consistent — the versioned usage updates of
 * their machines, the tasks' state, the jobs' pending counts (the claims' foreign keys, the
 * machine trigger and the capacity CHECKs all still run). No re-checks, no plan log. Each of the
 * connection's machines takes an even share of consecutive tasks, so a job's tasks share machines
 * as a packing scheduler's do (a batch of 1,000 writes 50 machine rows at 20 tasks a machine, not
 * 1,000); the caller sizes machines so that this fits.
 */
export async function measureCeiling(url: string, cell: string, connections: number): Promise<CeilingResult> {
  const pool = createPool(url, { max: connections + 1, name: "omega-bench-ceiling" });
  try {
    const [tasks, machines] = await Promise.all([
      pool.query<TaskRow>(
        `select t.id, t.job_id, j.tenant_id, j.priority, j.cpu, j.memory
         from omega.tasks t join omega.jobs j on j.cell = t.cell and j.id = t.job_id
         where t.cell = $1 and t.state = 'pending' order by t.id`,
        [cell],
      ),
      pool.query<{ id: number }>("select id from omega.machines where cell = $1 order by id", [cell]),
    ]);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: connections }, (_, c) => {
        const share = (rows: readonly { id: number }[], of: number) => [
          Math.floor((rows.length * c) / of),
          Math.floor((rows.length * (c + 1)) / of),
        ];
        const [t0, t1] = share(tasks.rows, connections);
        const [m0, m1] = share(machines.rows, connections);
        return commitShare(
          pool,
          cell,
          tasks.rows.slice(t0, t1),
          machines.rows.slice(m0, m1).map((m) => m.id),
        );
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      connections,
      placed: tasks.rows.length,
      seconds,
      placementsPerSecond: tasks.rows.length / seconds,
    };
  } finally {
    await pool.end();
  }
}

async function commitShare(
  pool: ReturnType<typeof createPool>,
  cell: string,
  tasks: readonly TaskRow[],
  machineIds: readonly number[],
): Promise<void> {
  const client = await pool.connect();
  const perMachine = Math.ceil(tasks.length / Math.max(1, machineIds.length));
  try {
    for (let i = 0; i < tasks.length; i += CEILING_BATCH) {
      const batch = tasks.slice(i, i + CEILING_BATCH);
      const machine = batch.map((_, k) => machineIds[Math.floor((i + k) / perMachine)] as number);
      await client.query(
        `with u as (
           select * from unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::int[], $7::bigint[], $8::bigint[])
             as u(task, job, machine, tenant, priority, cpu, memory)
         ),
         new_claims as (
           insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, scheduler)
           select $1, task, job, machine, tenant, priority, cpu, memory, 'batch' from u
         ),
         placed_tasks as (
           update omega.tasks t set state = 'placed' from u where t.cell = $1 and t.id = u.task
         ),
         placed_jobs as (
           update omega.jobs j
           set pending_count = j.pending_count - a.n,
               state = case when j.pending_count = a.n then 'placed' else j.state end
           from (select job, count(*) as n from u group by job) a
           where j.cell = $1 and j.id = a.job
         )
         update omega.machines m
         set used_cpu = m.used_cpu + a.cpu, used_memory = m.used_memory + a.memory, tasks = m.tasks + a.n
         from (select machine, sum(cpu) as cpu, sum(memory) as memory, count(*) as n from u group by machine) a
         where m.cell = $1 and m.id = a.machine`,
        [
          cell,
          batch.map((t) => t.id),
          batch.map((t) => t.job_id),
          machine,
          batch.map((t) => t.tenant_id),
          batch.map((t) => t.priority),
          batch.map((t) => t.cpu),
          batch.map((t) => t.memory),
        ],
      );
    }
  } finally {
    client.release();
  }
}
