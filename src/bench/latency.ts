import path from "node:path";
import type { Pool } from "../db/pool.ts";
import { mulberry32 } from "../placement/random.ts";
import { bucketPercentileMs, readSubmitHistogram } from "./api-histogram.ts";
import { writeLineChart } from "./chart.ts";
import { startCpuMeter } from "./cpu-meter.ts";
import { printProfile, startDbCost } from "./db-cost.ts";
import {
  onHttpStage,
  type PlacedJob,
  placedLatencies,
  type SubmittedOverHttp,
  submitOverHttp,
} from "./http-submissions.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { percentile, round } from "./stats.ts";
import { startWaitSampler } from "./wait-sampler.ts";

export interface LatencyOptions {
  machines: number;
  rates: number[];
  seconds: number;
  workers: number;
  seed: number;
}

const CELL = "latency";
/**
 * Jobs submitted in a rate's first seconds are also left out of a second p99: the first plans of
 * each connection (catalogs read cold) and the re-plans as the empty tables double and are analyzed
 * (0260) make the first seconds of a fresh cell slower. The verdicts use the whole run.
 */
const SETTLED_AFTER_S = 5;

/** The targets: submit→placed p99 at these rates (jobs/s → ms). */
const P99_TARGETS: Record<number, number> = { 200: 50, 1000: 250 };

/**
 * Scenario `latency`: a real `omega serve` process and real worker processes; small jobs (1–4
 * tasks of 100m / 128 MiB) are POSTed open-loop at fixed rates, one rate after the other. For each
 * job: HTTP accept latency (due time → 201 received) and submit→placed (the job row's creation to
 * the end of the commit that placed its last task, both on the database's clock).
 */
export async function runLatency(options: LatencyOptions): Promise<void> {
  const started = performance.now();
  const { machine, result: measured } = await onHttpStage(CELL, options, async (pool, apiUrl, token) => {
    const measured: Awaited<ReturnType<typeof measureRate>>[] = [];
    for (const rate of options.rates) measured.push(await measureRate(pool, apiUrl, token, rate, options));
    return measured;
  });
  const rows: Record<string, number | string | null>[] = measured.map((m) => m.row);
  printTable(`latency: ${options.machines} machines, ${options.workers} worker processes`, rows);
  const verdicts = rows
    .filter((r) => P99_TARGETS[r.rate as number] !== undefined)
    .map((r) => {
      const limit = P99_TARGETS[r.rate as number] as number;
      const met = (r.placedP99Ms as number) <= limit && r.failed === 0;
      return `${r.rate} jobs/s: p99 ${r.placedP99Ms} ms, ${r.failed} failed (target ≤ ${limit} ms, none failed): ${met ? "met" : "missed"}`;
    });
  for (const v of verdicts) console.log(v);
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
    reference: { y: 250, label: "250 ms" },
  });
  const file = await writeResults("latency", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    verdicts,
    rows,
    bySecond: Object.fromEntries(measured.map((m) => [m.row.rate, m.bySecond])),
  });
  console.log(`wrote ${file} and ${RESULTS_DIR}/latency.svg`);
}

async function measureRate(pool: Pool, apiUrl: string, token: string, rate: number, options: LatencyOptions) {
  const random = mulberry32(options.seed * 7919 + rate);
  const meter = await startDbCost(pool);
  const cpuMeter = await startCpuMeter();
  const waits = process.env.OMEGA_BENCH_PROFILE ? await startWaitSampler(pool) : undefined;
  const serverBefore = await readSubmitHistogram(apiUrl);
  const sent = await submitOverHttp(apiUrl, token, rate, options.seconds, (i) => ({
    name: `r${rate}-${i}`,
    cell: CELL,
    tasks: 1 + Math.floor(random() * 4),
    resources: { cpu: 100, memory: 128 },
  }));
  const serverAfter = await readSubmitHistogram(apiUrl);
  await waitUntilPlaced(pool, sent.ids);
  const waited = await waits?.stop();
  const jobs = await placedLatencies(pool, sent.ids);
  const placed = jobs.map((j) => j.ms);
  // The same after the first seconds at this rate: a started cell's connections have planned their
  // statements on its growing tables by then (reported beside the whole run's, never instead).
  const settled = jobs.filter((j) => j.submittedAtS >= SETTLED_AFTER_S).map((j) => j.ms);
  const acceptSettled = sent.accept.filter((_, k) => (sent.dueAtS[k] as number) >= SETTLED_AFTER_S);
  const cost = await meter.stop();
  const cpu = await cpuMeter.stop();
  const conflicts = await rejectedByReason(pool, sent.ids);
  if (process.env.OMEGA_BENCH_PROFILE) printProfile(cost);
  if (waited) console.table(waited);
  const perJob = (n: number | null) =>
    n === null || sent.ids.length === 0 ? null : round(n / sent.ids.length, 2);
  const row = {
    rate,
    jobs: sent.ids.length,
    failed: Object.values(sent.refused).reduce((a, b) => a + b, 0),
    failedBy: JSON.stringify(sent.refused),
    acceptP50Ms: round(percentile(sent.accept, 50), 1),
    acceptP99Ms: round(percentile(sent.accept, 99), 1),
    acceptP99After5sMs: acceptSettled.length > 0 ? round(percentile(acceptSettled, 99), 1) : null,
    // The API's own timing of the same requests (arrival → answer), by its histogram's buckets.
    serverP50Ms: bucketPercentileMs(serverBefore, serverAfter, 50),
    serverP99Ms: bucketPercentileMs(serverBefore, serverAfter, 99),
    placedP50Ms: round(percentile(placed, 50), 1),
    placedP95Ms: round(percentile(placed, 95), 1),
    placedP99Ms: round(percentile(placed, 99), 1),
    placedP99After5sMs: settled.length > 0 ? round(percentile(settled, 99), 1) : null,
    placedMaxMs: round(Math.max(...placed), 1),
    dbMsPerJob: perJob(cost.statementMs),
    writeTxPerJob: perJob(cost.writeTransactions),
    connectionsOpened: cost.connectionsOpened,
    // What the machine spent per job (CPU ms): PostgreSQL / API / workers / load generator.
    cpuMsPerJob: [cpu.postgres, cpu.api, cpu.workers, cpu.bench].map((ms) => perJob(ms)).join(" / "),
    rejected: JSON.stringify(conflicts),
  };
  // Second by second (in the JSON only): where in a rate's run the tail comes from.
  return { row, bySecond: bySecond(jobs, sent) };
}

/** Per second of submissions: placed p50 / p99 and accept p50 / p99, ms. */
function bySecond(jobs: readonly PlacedJob[], sent: SubmittedOverHttp) {
  const seconds = new Map<number, { placed: number[]; accept: number[] }>();
  const at = (s: number) => {
    const key = Math.floor(s);
    if (!seconds.has(key)) seconds.set(key, { placed: [], accept: [] });
    return seconds.get(key) as { placed: number[]; accept: number[] };
  };
  for (const j of jobs) at(j.submittedAtS).placed.push(j.ms);
  for (const [k, ms] of sent.accept.entries()) at(sent.dueAtS[k] as number).accept.push(ms);
  return [...seconds]
    .sort((a, b) => a[0] - b[0])
    .map(([second, v]) => ({
      second,
      placedP50Ms: round(percentile(v.placed, 50), 1),
      placedP99Ms: round(percentile(v.placed, 99), 1),
      acceptP50Ms: round(percentile(v.accept, 50), 1),
      acceptP99Ms: round(percentile(v.accept, 99), 1),
    }));
}

/** Placements the commits of these jobs' plans rejected, by reason (the plans of this rate). */
async function rejectedByReason(pool: Pool, ids: readonly number[]): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ reason: string; n: number }>(
    `select r.key as reason, sum(r.value::int)::int as n
     from omega.plans p, jsonb_each_text(p.rejected) r
     where p.cell = $1 and p.id >= (select min(c.plan_id) from omega.claims c where c.cell = $1 and c.job_id = any($2))
     group by r.key order by n desc`,
    [CELL, ids],
  );
  return Object.fromEntries(rows.map((r) => [r.reason, r.n]));
}

/** Waits until every job is placed (they all fit: the cell is far bigger than the load). */
async function waitUntilPlaced(pool: Pool, ids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from omega.jobs where id = any($1) and state <> 'placed'",
      [ids],
    );
    if (rows[0]?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]?.n} jobs still not placed after 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
