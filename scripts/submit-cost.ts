/**
 * The fixed cost of accepting a job, as the API's group commit sends it: small jobs (1–4 tasks)
 * submitted with omega.submit_jobs in batches on one connection, serially, and read back where the
 * API reads them back (omega.jobs_get: a repeated idempotent submission only since 0310, none
 * here). Reports the backend's CPU time per job (from /proc) and the top statements.
 * `tsx scripts/submit-cost.ts [jobs] [batch]` (a fresh database of its own).
 * OMEGA_SETUP_SQL runs before the timing starts (an experiment without a migration);
 * OMEGA_FUNCTIONS=1 prints the functions by their own time; OMEGA_SMALL_BACKLOG=1 keeps the backlog
 * small (below).
 */

import { createCell, createTenant } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { jobsGet } from "../src/db/queries/job-get.ts";
import { jobSubmitBatch } from "../src/db/queries/job-submit-batch.ts";
import {
  backendCpuMs,
  backendPid,
  functionTiming,
  printTopStatements,
  smallJobBatch,
} from "./cost-report.ts";

const jobs = Number(process.argv[2] ?? 4000);
const batchSize = Number(process.argv[3] ?? 4);
const server = await startBenchServer();
const databases = benchDatabases(server.url);
const bench = await databases.create("submit_cost");
const pool = bench.pool;

try {
  await createCell(pool, { name: "c", machines: 1000, cpu: 32_000, memory: 131_072 });
  await createTenant(pool, "t");
  const { rows: tenant } = await pool.query<{ id: number }>("select id from omega.tenants where name = 't'");
  const tenantId = tenant[0]?.id ?? 0;
  await pool.query("analyze");
  if (process.env.OMEGA_SETUP_SQL) await pool.query(process.env.OMEGA_SETUP_SQL);
  await pool.query("create extension if not exists pg_stat_statements");
  const client = await pool.connect();
  const backend = await backendPid(client);
  const functions = await functionTiming(client);
  const warmUp = Math.min(400, Math.floor(jobs / 4));
  const cpu = { submit: 0, readBack: 0 };
  for (let i = 0; i < jobs; i += batchSize) {
    if (i === warmUp) {
      await pool.query("select pg_stat_statements_reset()");
      await functions.start();
    }
    // As the workers' maintenance does every second: plans made on the empty tables read them all.
    if ((i / batchSize) % 50 === 49) await pool.query("select omega.refresh_statistics()");
    // OMEGA_SMALL_BACKLOG=1: the waiting jobs cancelled every 20 batches (untimed), as a scheduler
    // keeping up would place them, instead of a backlog growing to every job submitted.
    if (process.env.OMEGA_SMALL_BACKLOG && (i / batchSize) % 20 === 19) {
      await pool.query("update omega.jobs set state = 'cancelled' where state = 'pending'");
    }
    const timed = i >= warmUp;
    const batch = smallJobBatch(i, batchSize);
    let before = backendCpuMs(backend);
    const results = await jobSubmitBatch(client, batch as never);
    if (timed) cpu.submit += backendCpuMs(backend) - before;
    // As the API answers: a created job from the submission's own result (0310), any other read back.
    const unread = results.flatMap((r) => (r.ok && !r.job ? [{ id: r.id, tenantId }] : []));
    if (unread.length === 0) continue;
    before = backendCpuMs(backend);
    await jobsGet(client, unread);
    if (timed) cpu.readBack += backendCpuMs(backend) - before;
  }
  const timedJobs = jobs - warmUp;
  await functions.print(timedJobs);
  client.release();
  console.log(
    `backend CPU per job: submit ${(cpu.submit / timedJobs).toFixed(3)} ms, read back ${(cpu.readBack / timedJobs).toFixed(3)} ms (batches of ${batchSize})`,
  );
  await printTopStatements(pool, timedJobs);
} finally {
  await bench.drop();
  await databases.close();
  await server.stop();
}
