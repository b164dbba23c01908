import type { Pool } from "../db/pool.ts";
import { createCell, createTenant } from "./cell.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, type MachineInfo, machineLine } from "./machine-info.ts";
import { printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { percentile, round } from "./stats.ts";
import { startWorkers } from "./workers.ts";

export interface ChainOptions {
  /** Chains run one after the other, per mode. */
  chains: number;
  /** Jobs in each chain. */
  stages: number;
  machines: number;
}

const CELL = "chain";
const TENANT = "bench";
/** The target with pre-placement: successor start p99 (ms). */
const PREPLACE_P99_TARGET_MS = 20;

/**
 * Scenario `chain`: successor start latency. Chains of small one-task jobs, each depending on the
 * previous (`succeeded`), run on a real worker process; the bench plays the machine agent and
 * reports each task `running` then `succeeded` through omega.report_task (what the agent API calls).
 * Measured per link, on the bench's clock: from sending the predecessor's `succeeded` report to
 * seeing the successor placed (read in a tight loop on another connection). Without prePlace a
 * scheduler must be woken, lease the successor and commit its plan; with prePlace its reservation
 * becomes a placement inside the report's own transaction.
 */
export async function runChain(options: ChainOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  let machine: MachineInfo | undefined;
  const rows: {
    mode: string;
    links: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    reportP50Ms: number;
  }[] = [];
  try {
    for (const prePlace of [false, true]) {
      const db = await databases.create(prePlace ? "preplace" : "plain");
      try {
        if (!machine) {
          machine = await describeMachine(db.pool, server.kind);
          console.log(machineLine(machine));
        }
        await createCell(db.pool, { name: CELL, machines: options.machines, cpu: 32_000, memory: 131_072 });
        await createTenant(db.pool, TENANT);
        const workers = await startWorkers(db.pool, db.url, { scheduler: "batch", count: 1 });
        try {
          const latencies: number[] = [];
          const reports: number[] = [];
          for (let c = 0; c < options.chains; c++) {
            const chain = await runOneChain(db.pool, options.stages, prePlace);
            latencies.push(...chain.latencies);
            reports.push(...chain.reports);
          }
          rows.push({
            mode: prePlace ? "prePlace" : "plain",
            links: latencies.length,
            p50Ms: round(percentile(latencies, 50), 2),
            p99Ms: round(percentile(latencies, 99), 2),
            maxMs: round(Math.max(...latencies), 2),
            // The `succeeded` report's own round trip: the floor of any successor's start.
            reportP50Ms: round(percentile(reports, 50), 2),
          });
        } finally {
          await workers.stop();
        }
      } finally {
        await db.drop();
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  const [plain, pre] = rows;
  if (!plain || !pre || !machine) throw new Error("no measurement ran");
  const ratio = { p50: round(plain.p50Ms / pre.p50Ms, 1), p99: round(plain.p99Ms / pre.p99Ms, 1) };
  printTable(
    `chain: ${options.chains} chains of ${options.stages} one-task jobs, successor start latency`,
    rows,
  );
  const verdict = `prePlace p99 ${pre.p99Ms} ms (target ≤ ${PREPLACE_P99_TARGET_MS} ms): ${
    pre.p99Ms <= PREPLACE_P99_TARGET_MS ? "met" : "missed"
  }; plain/prePlace: p50 ×${ratio.p50}, p99 ×${ratio.p99}`;
  console.log(verdict);
  const file = await writeResults("chain", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    verdict,
    ratio,
    rows,
  });
  console.log(`wrote ${file}`);
}

/** Submits one chain and plays its agent; returns each link's successor start latency (ms). */
async function runOneChain(
  pool: Pool,
  stages: number,
  prePlace: boolean,
): Promise<{ latencies: number[]; reports: number[] }> {
  const ids: number[] = [];
  for (let i = 0; i < stages; i++) {
    const spec = {
      cell: CELL,
      tasks: 1,
      resources: { cpu: 100, memory: 128 },
      ...(i > 0 ? { dependsOn: [{ job: ids[i - 1] }], prePlace } : {}),
    };
    const { rows } = await pool.query<{ id: string }>("select omega.submit_job($1, $2) as id", [
      TENANT,
      spec,
    ]);
    ids.push(Number(rows[0]?.id));
  }
  // With prePlace, every successor holds its reservation before the first link is timed.
  if (prePlace)
    await waitFor(pool, "select count(*)::int = $2 as ok from omega.claims where job_id = any($1)", [
      ids,
      stages,
    ]);
  const watcher = await pool.connect();
  const latencies: number[] = [];
  const reports: number[] = [];
  try {
    await waitFor(pool, "select state = 'placed' as ok from omega.jobs where id = $1", [ids[0]]);
    for (let i = 0; i < stages; i++) {
      const { rows } = await pool.query<{ task: string; machine: string }>(
        `select c.task_id as task, m.name as machine from omega.claims c
         join omega.machines m on m.cell = c.cell and m.id = c.machine_id where c.job_id = $1`,
        [ids[i]],
      );
      const task = rows[0];
      if (!task) throw new Error(`job ${ids[i]} holds no claim`);
      await pool.query("select omega.report_task($1, $2, $3, 'running')", [CELL, task.machine, task.task]);
      const sent = performance.now();
      await pool.query("select omega.report_task($1, $2, $3, 'succeeded')", [CELL, task.machine, task.task]);
      reports.push(performance.now() - sent);
      if (i + 1 === stages) break;
      // The successor is placed when its job says so (a reservation keeps it pending until then).
      for (;;) {
        const { rows: s } = await watcher.query<{ state: string }>(
          "select state from omega.jobs where id = $1",
          [ids[i + 1]],
        );
        if (s[0]?.state === "placed") break;
        if (performance.now() - sent > 60_000) throw new Error(`job ${ids[i + 1]} not placed after 60 s`);
      }
      latencies.push(performance.now() - sent);
    }
  } finally {
    watcher.release();
  }
  return { latencies, reports };
}

async function waitFor(pool: Pool, sql: string, params: unknown[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await pool.query<{ ok: boolean }>(sql, params);
    if (rows[0]?.ok) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${sql}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
