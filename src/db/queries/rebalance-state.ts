import type { AffinityTerm, SelectorTerm, Toleration, TopologySpreadTerm } from "../../placement/types.ts";
import type { ClaimView, PendingJob, RebalanceJob, RebalanceState } from "../../rebalance/types.ts";
import type { Pool } from "../pool.ts";
import { MACHINE_COLUMNS, type MachineRow, toMachineView } from "../snapshot.ts";

interface JobRow {
  id: number;
  priority: number;
  cpu: number;
  memory: number;
  gpu: number;
  disk: number;
  selector: Record<string, string>;
  affinity: AffinityTerm[];
  tolerations: Toleration[];
  max_per_machine: number | null;
  spread_by: string | null;
  gang_min: number | null;
  task_count: number;
  max_unavailable: number | null;
  unavailable: number;
  pending_count: number;
  blocked: boolean;
  labels: Record<string, string>;
  ports: number[];
  vocabulary: { jobAntiAffinity?: SelectorTerm[]; topologySpread?: TopologySpreadTerm[] } | null;
}

/**
 * Everything the rebalancer plans on, for one cell, read in one repeatable-read transaction (one
 * consistent state): machines, claims (and whether their tasks run), the jobs that hold claims or
 * wait, and the moves within the cooldown. A whole-cell read, once a period: the rebalancer is not
 * on the hot path, and its moves are re-checked by omega.commit_move whatever it read.
 */
export async function rebalanceStateGet(
  pool: Pool,
  cell: string,
  cooldownSeconds: number,
): Promise<RebalanceState> {
  const client = await pool.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const machines = await client.query<MachineRow>(
      `select ${MACHINE_COLUMNS} from omega.machines where cell = $1`,
      [cell],
    );
    const claims = await client.query<{
      task_id: number;
      job_id: number;
      machine_id: number;
      running: boolean;
    }>(
      `select c.task_id, c.job_id, c.machine_id, t.state = 'running' as running
       from omega.claims c join omega.tasks t on t.cell = c.cell and t.id = c.task_id
       where c.cell = $1`,
      [cell],
    );
    const jobs = await client.query<JobRow>(
      `select j.id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations,
         j.max_per_machine, j.spread_by, j.gang_min, j.task_count, j.max_unavailable, j.pending_count, j.blocked,
         j.labels, j.ports, j.vocabulary,
         case when j.max_unavailable is null then 0 else omega.job_unavailable(j.cell, j.id) end as unavailable
       from omega.jobs j
       where j.cell = $1 and j.state in ('pending', 'placed', 'running')`,
      [cell],
    );
    const moves = await client.query<{ task_id: number; from_machine: number; to_machine: number }>(
      `select task_id, from_machine, to_machine from omega.moves
       where cell = $1 and moved_at > now() - make_interval(secs => $2)`,
      [cell, cooldownSeconds],
    );
    await client.query("commit");
    const byId = new Map<number, RebalanceJob>();
    const pending: PendingJob[] = [];
    for (const row of jobs.rows) {
      const job = toRebalanceJob(row);
      byId.set(job.id, job);
      if (row.pending_count > 0) pending.push({ ...job, pending: row.pending_count });
    }
    return {
      machines: machines.rows.map(toMachineView),
      claims: claims.rows.map(
        (c): ClaimView => ({
          taskId: c.task_id,
          jobId: c.job_id,
          machineId: c.machine_id,
          running: c.running,
        }),
      ),
      jobs: byId,
      pending,
      recentMoves: moves.rows.map((m) => ({ taskId: m.task_id, from: m.from_machine, to: m.to_machine })),
    };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function toRebalanceJob(row: JobRow): RebalanceJob {
  return {
    id: row.id,
    priority: row.priority,
    request: { cpu: row.cpu, memory: row.memory, gpu: row.gpu, disk: row.disk },
    constraints: {
      selector: row.selector,
      affinity: row.affinity,
      tolerations: row.tolerations,
      maxPerMachine: row.max_per_machine,
      spreadBy: row.spread_by,
    },
    taskCount: row.task_count,
    gangMin: row.gang_min,
    maxUnavailable: row.max_unavailable,
    unavailable: row.unavailable,
    ...vocabularyOf(row),
  };
}

/** The vocabulary a move must respect (vocabulary-fit.ts); nothing for a job that uses none. */
function vocabularyOf(row: JobRow): Pick<RebalanceJob, "vocabulary"> {
  const antiAffinity = row.vocabulary?.jobAntiAffinity ?? [];
  const topologySpread = row.vocabulary?.topologySpread ?? [];
  const labels = row.labels ?? {};
  const ports = row.ports ?? [];
  if (
    antiAffinity.length === 0 &&
    topologySpread.length === 0 &&
    ports.length === 0 &&
    Object.keys(labels).length === 0
  )
    return {};
  return { vocabulary: { labels, ports, antiAffinity, topologySpread } };
}
