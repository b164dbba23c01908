import type { Pool } from "../db/pool.ts";
import { mulberry32 } from "../placement/random.ts";
import { startCpuMeter } from "./cpu-meter.ts";
import { printProfile, startDbCost } from "./db-cost.ts";
import { onHttpStage, placedLatencies, submitOverHttp } from "./http-submissions.ts";
import { printTable, writeResults } from "./report.ts";
import { percentile, round } from "./stats.ts";

export interface BurstOptions {
  machines: number;
  rate: number;
  seconds: number;
  workers: number;
  seed: number;
}

const CELL = "burst";
/** The target: what fits is placed within this, at the median, while the rest waits or preempts. */
const PLACED_P50_TARGET_MS = 100;

/**
 * Scenario `burst`: a real `omega serve` and worker processes; open-loop HTTP submissions at a fixed
 * rate against a cell they fill within seconds (1–4 tasks of 1 cpu, 4 GiB; one job in five at
 * production priority, which may preempt the batch rest). Every request must be accepted (or
 * refused at once with 503 + Retry-After); arrivals beyond capacity park or preempt, and each of
 * them must stay cheap. Reports the requests' fate, submit→placed of what was placed, how many
 * jobs wait parked, evictions, and database cost per job.
 */
export async function runBurst(options: BurstOptions): Promise<void> {
  const started = performance.now();
  const { machine, result: row } = await onHttpStage(CELL, options, (pool, apiUrl, token) =>
    burst(pool, apiUrl, token, options),
  );
  printTable(
    `burst: ${options.rate} jobs/s for ${options.seconds} s on ${options.machines} machines, ${options.workers} worker processes`,
    [row],
  );
  const met = row.refused === 0 && (row.placedP50Ms as number) <= PLACED_P50_TARGET_MS;
  const verdict = `every request accepted: ${row.refused === 0 ? "yes" : `no (${row.refused} refused)`}; placed p50 ${row.placedP50Ms} ms (target ≤ ${PLACED_P50_TARGET_MS} ms): ${met ? "met" : "missed"}`;
  console.log(`\n${verdict}`);
  const file = await writeResults("burst", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    verdict,
    row,
  });
  console.log(`wrote ${file}`);
}

async function burst(pool: Pool, apiUrl: string, token: string, options: BurstOptions) {
  const random = mulberry32(options.seed * 104_729);
  const meter = await startDbCost(pool);
  const cpuMeter = await startCpuMeter();
  const sent = await submitOverHttp(apiUrl, token, options.rate, options.seconds, (i) => ({
    name: `b${i}`,
    cell: CELL,
    tasks: 1 + Math.floor(random() * 4),
    priority: random() < 0.2 ? 250 : 150,
    scheduler: "batch",
    resources: { cpu: 1000, memory: 4096 },
  }));
  await waitUntilSettled(pool);
  const cost = await meter.stop();
  const cpu = await cpuMeter.stop();
  if (process.env.OMEGA_BENCH_PROFILE) printProfile(cost);
  const placed = (await placedLatencies(pool, sent.ids)).map((j) => j.ms);
  const { rows } = await pool.query<{
    parked: number;
    pending: number;
    evicted: number;
    tasks_placed: number;
  }>(
    `select (select count(*)::int from omega.jobs where cell = $1 and state = 'pending' and blocked) as parked,
            (select count(*)::int from omega.jobs where cell = $1 and state = 'pending') as pending,
            (select coalesce(sum(evicted), 0)::int from omega.plans where cell = $1) as evicted,
            (select count(*)::int from omega.claims where cell = $1) as tasks_placed`,
    [CELL],
  );
  const perJob = (n: number | null) =>
    n === null || sent.ids.length === 0 ? null : round(n / sent.ids.length, 2);
  const refused = Object.values(sent.refused).reduce((a, b) => a + b, 0);
  return {
    requests: sent.ids.length + refused,
    accepted: sent.ids.length,
    refused,
    refusedBy: JSON.stringify(sent.refused),
    acceptP50Ms: round(percentile(sent.accept, 50), 1),
    acceptP99Ms: round(percentile(sent.accept, 99), 1),
    jobsPlaced: placed.length,
    tasksHolding: rows[0]?.tasks_placed ?? 0,
    placedP50Ms: round(percentile(placed, 50), 1),
    placedP99Ms: round(percentile(placed, 99), 1),
    jobsWaiting: rows[0]?.pending ?? 0,
    jobsParked: rows[0]?.parked ?? 0,
    evicted: rows[0]?.evicted ?? 0,
    dbMsPerJob: perJob(cost.statementMs),
    writeTxPerJob: perJob(cost.writeTransactions),
    connectionsOpened: cost.connectionsOpened,
    // CPU ms per accepted job: PostgreSQL / API / workers / load generator.
    cpuMsPerJob: [cpu.postgres, cpu.api, cpu.workers, cpu.bench].map((ms) => perJob(ms)).join(" / "),
  };
}

/** Waits until no job waits for a scheduler (each is placed, or parked until room appears). */
async function waitUntilSettled(pool: Pool): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from omega.jobs where cell = $1 and state = 'pending' and not blocked",
      [CELL],
    );
    if (rows[0]?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]?.n} jobs still unscheduled after 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
