import path from "node:path";
import type { Pool } from "../db/pool.ts";
import { mulberry32 } from "../placement/random.ts";
import { startApiProcess } from "./api-process.ts";
import { createCell, UNLIMITED_TENANT } from "./cell.ts";
import { writeLineChart } from "./chart.ts";
import { benchDatabases } from "./database.ts";
import { startDbCost } from "./db-cost.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { openLoop } from "./open-loop.ts";
import { progress } from "./progress.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { percentile, round } from "./stats.ts";
import { startWorkers } from "./workers.ts";

export interface LatencyOptions {
  machines: number;
  rates: number[];
  seconds: number;
  workers: number;
  seed: number;
}

const CELL = "latency";
/** Where the issue draws the line. */
const P99_LIMIT_MS = 100;

/**
 * Scenario `latency`: a real `omega serve` process and real worker processes; small jobs (1–4
 * tasks of 100m / 128 MiB) are POSTed open-loop at fixed rates, one rate after the other. For each
 * job: HTTP accept latency (due time → 201 received) and submit→placed (the job row's creation to
 * the end of the commit that placed its last task, both on the database's clock).
 */
export async function runLatency(options: LatencyOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const db = await databases.create("latency");
  const rows: Record<string, number | string | null>[] = [];
  let machine: Awaited<ReturnType<typeof describeMachine>>;
  try {
    machine = await describeMachine(db.pool, server.kind);
    console.log(machineLine(machine));
    await createCell(db.pool, { name: CELL, machines: options.machines, cpu: 32_000, memory: 131_072 });
    await db.pool.query("analyze");
    const api = await startApiProcess(db.url);
    const workers = await startWorkers(db.pool, db.url, { scheduler: "batch", count: options.workers });
    try {
      const token = await createTenant(api.url, api.adminToken);
      for (const rate of options.rates) rows.push(await measureRate(db.pool, api.url, token, rate, options));
    } finally {
      await workers.stop();
      await api.stop();
    }
  } finally {
    await db.drop();
    await databases.close();
    await server.stop();
  }
  printTable(`latency: ${options.machines} machines, ${options.workers} worker processes`, rows);
  const over = rows.find((r) => (r.placedP99Ms as number) > P99_LIMIT_MS);
  const p99Over100msAtRate = over ? (over.rate as number) : null;
  console.log(
    over
      ? `\nsubmit→placed p99 first exceeds ${P99_LIMIT_MS} ms at ${over.rate} jobs/s`
      : `\nsubmit→placed p99 stays within ${P99_LIMIT_MS} ms up to ${options.rates.at(-1)} jobs/s`,
  );
  const series = (key: string, name: string) => ({
    name,
    points: rows.map((r) => [r.rate as number, r[key] as number] as const),
  });
  await writeLineChart(path.join(RESULTS_DIR, "latency.svg"), {
    title: `Submit → placed over HTTP, ${options.machines.toLocaleString("en-US")} machines`,
    xLabel: "offered load (jobs/s, open loop)",
    yLabel: "milliseconds",
    logX: true,
    series: [
      series("placedP50Ms", "placed p50"),
      series("placedP95Ms", "placed p95"),
      series("placedP99Ms", "placed p99"),
      series("acceptP99Ms", "HTTP accept p99"),
    ],
    reference: { y: P99_LIMIT_MS, label: `${P99_LIMIT_MS} ms` },
  });
  const file = await writeResults("latency", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    p99Over100msAtRate,
    rows,
  });
  console.log(`wrote ${file} and ${RESULTS_DIR}/latency.svg`);
}

async function createTenant(apiUrl: string, adminToken: string): Promise<string> {
  const res = await fetch(`${apiUrl}/v1/tenants`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "latency", limits: UNLIMITED_TENANT }),
  });
  if (res.status !== 201) throw new Error(`creating the tenant: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

async function measureRate(pool: Pool, apiUrl: string, token: string, rate: number, options: LatencyOptions) {
  const random = mulberry32(options.seed * 7919 + rate);
  const ids: number[] = [];
  const accept: number[] = [];
  let failed = 0;
  const total = Math.round(rate * options.seconds);
  const bar = progress(`${String(rate).padStart(5)} jobs/s`, total, "jobs accepted");
  const meter = await startDbCost(pool);
  await openLoop(rate, options.seconds, async (i, dueAt) => {
    const tasks = 1 + Math.floor(random() * 4);
    try {
      const res = await fetch(`${apiUrl}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: `r${rate}-${i}`,
          cell: CELL,
          tasks,
          resources: { cpu: 100, memory: 128 },
        }),
      });
      const body = (await res.json()) as { id?: number };
      if (res.status === 201 && body.id) {
        accept.push(performance.now() - dueAt);
        ids.push(body.id);
      } else failed++;
    } catch {
      failed++;
    }
    bar.update(ids.length);
  });
  bar.stop();
  const placed = await placementLatencies(pool, ids);
  const cost = await meter.stop();
  if (process.env.OMEGA_BENCH_PROFILE) console.table(cost.top);
  const perJob = (n: number | null) => (n === null || ids.length === 0 ? null : round(n / ids.length, 2));
  return {
    rate,
    jobs: ids.length,
    failed,
    acceptP50Ms: round(percentile(accept, 50), 1),
    acceptP99Ms: round(percentile(accept, 99), 1),
    placedP50Ms: round(percentile(placed, 50), 1),
    placedP95Ms: round(percentile(placed, 95), 1),
    placedP99Ms: round(percentile(placed, 99), 1),
    placedMaxMs: round(Math.max(...placed), 1),
    dbMsPerJob: perJob(cost.statementMs),
    writeTxPerJob: perJob(cost.writeTransactions),
  };
}

/**
 * Waits until the jobs are placed, then reads, per job, the time from its row's creation to the
 * end of the commit_plan call that placed its last task (plans.committed_at is that call's start).
 */
async function placementLatencies(pool: Pool, ids: readonly number[]): Promise<number[]> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from omega.jobs where id = any($1) and state <> 'placed'",
      [ids],
    );
    if (rows[0]?.n === 0) break;
    if (Date.now() > deadline) throw new Error(`${rows[0]?.n} jobs still not placed after 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const { rows } = await pool.query<{ ms: number }>(
    `select extract(epoch from max(p.committed_at + p.duration_ms * interval '1 ms') - j.created_at)::float8 * 1000 as ms
     from omega.jobs j
     join omega.claims c on c.cell = j.cell and c.job_id = j.id
     join omega.plans p on p.cell = c.cell and p.id = c.plan_id
     where j.id = any($1)
     group by j.id, j.created_at`,
    [ids],
  );
  return rows.map((r) => r.ms);
}
