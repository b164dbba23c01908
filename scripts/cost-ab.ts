/**
 * Two variants of the hot path measured side by side, call by call: two databases on one server,
 * each a cell of 1,000 machines, with the same work alternating between them on two connections,
 * so that a noisy machine slows both alike (runs minutes apart differed by ±20 % here, more than
 * most changes). B is A with OMEGA_B_SQL run (a migration not yet applied, a function replaced);
 * OMEGA_A_SQL, if set, runs on A; OMEGA_A_CLIENT_SQL / OMEGA_B_CLIENT_SQL on a side's timed connection
 * (a session setting).
 *   `tsx scripts/cost-ab.ts commit [plans] [tasks]`: lease + commit of one small job, as in
 *   commit-cost.ts, per plan;
 *   `tsx scripts/cost-ab.ts submit [batches] [batch]`: omega.submit_jobs as the API's group commit
 *   calls it, as in submit-cost.ts (the backlog cancelled every 20 batches), per job.
 * OMEGA_PACKED=1 puts each job's tasks on one machine, as the packing profiles place them.
 * Prints each side's backend CPU and wall time per unit, and B ÷ A.
 */

import { readFileSync } from "node:fs";
import { createCell, createTenant } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { median } from "../src/bench/stats.ts";
import type { Client, Pool } from "../src/db/pool.ts";
import { jobSubmitBatch } from "../src/db/queries/job-submit-batch.ts";
import * as db from "../src/db/scheduling.ts";
import { backendCpuMs, backendPid, randomPlacements, smallJobBatch, submitSmallJobs } from "./cost-report.ts";

const mode = process.argv[2] === "submit" ? "submit" : "commit";
const rounds = Number(process.argv[3] ?? 2000);
const size = Number(process.argv[4] ?? (mode === "commit" ? 3 : 1));
const warmUp = Math.min(200, Math.floor(rounds / 4));
const sqlOf = (name: string) => {
  const value = process.env[name];
  return value ? readFileSync(value, "utf8") : undefined;
};

interface Side {
  name: string;
  pool: Pool;
  client: Client;
  backend: number;
  machines: { id: number; version: number }[];
  wallMs: number[];
  cpuMs: number;
}

async function prepare(name: string, pool: Pool, sql: string | undefined): Promise<Side> {
  await createCell(pool, { name: "c", machines: 1000, cpu: 32_000, memory: 131_072 });
  await createTenant(pool, "t");
  if (mode === "commit") await submitSmallJobs(pool, rounds, size);
  if (sql) await pool.query(sql);
  await pool.query("analyze");
  const { rows: machines } = await pool.query<{ id: number; version: number }>(
    "select id, version from omega.machines where cell = 'c'",
  );
  const client = await pool.connect();
  const clientSql = process.env[`OMEGA_${name}_CLIENT_SQL`];
  if (clientSql) await client.query(clientSql);
  return { name, pool, client, backend: await backendPid(client), machines, wallMs: [], cpuMs: 0 };
}

async function leaseAndCommit(side: Side, i: number, timed: boolean): Promise<void> {
  if (i % 100 === 99) await side.pool.query("select omega.refresh_statistics()");
  const cpu = backendCpuMs(side.backend);
  const { views } = await db.leaseWork(side.client, {
    cell: "c",
    scheduler: "batch",
    owner: "w",
    limit: 1,
    leaseSeconds: 5,
  });
  const placements = randomPlacements(views, side.machines, process.env.OMEGA_PACKED === "1");
  const t = performance.now();
  await db.commitPlan(side.client, {
    cell: "c",
    scheduler: "batch",
    worker: "w",
    placements,
    transactionMode: "incremental",
    conflictMode: "fine",
  });
  if (!timed) return;
  side.wallMs.push(performance.now() - t);
  side.cpuMs += backendCpuMs(side.backend) - cpu;
}

async function submit(side: Side, i: number, timed: boolean): Promise<void> {
  if (i % 50 === 49) await side.pool.query("select omega.refresh_statistics()");
  if (i % 20 === 19)
    await side.pool.query("update omega.jobs set state = 'cancelled' where state = 'pending'");
  const batch = smallJobBatch(i, size);
  const cpu = backendCpuMs(side.backend);
  const t = performance.now();
  await jobSubmitBatch(side.client, batch as never);
  if (!timed) return;
  side.wallMs.push((performance.now() - t) / size);
  side.cpuMs += (backendCpuMs(side.backend) - cpu) / size;
}

const server = await startBenchServer();
const databases = benchDatabases(server.url);
const a = await databases.create("cost_ab_a");
const b = await databases.create("cost_ab_b");
const sides: Side[] = [];
try {
  sides.push(await prepare("A", a.pool, sqlOf("OMEGA_A_SQL")));
  sides.push(await prepare("B", b.pool, sqlOf("OMEGA_B_SQL")));
  const step = mode === "commit" ? leaseAndCommit : submit;
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so neither always follows the other's transaction.
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) await step(side, i, i >= warmUp);
  }
  const n = rounds - warmUp;
  const unit = mode === "commit" ? "lease + commit" : "job";
  const [sa, sb] = sides as [Side, Side];
  for (const s of sides) {
    console.log(
      `${s.name}: backend CPU per ${unit} ${(s.cpuMs / n).toFixed(3)} ms, ${mode} median ${median(s.wallMs).toFixed(3)} ms`,
    );
  }
  console.log(
    `B ÷ A: CPU ${(sb.cpuMs / sa.cpuMs).toFixed(3)}, ${mode} median ${(median(sb.wallMs) / median(sa.wallMs)).toFixed(3)}`,
  );
} finally {
  for (const s of sides) s.client.release();
  await a.drop();
  await b.drop();
  await databases.close();
  await server.stop();
}
