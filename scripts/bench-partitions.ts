// The partitions benchmark: the same four cells, the same workload and the same four scheduler
// worker processes, with every cell on one PostgreSQL server, then with one cell on each of four
// servers (each cell's workers on its server). Run: npx tsx scripts/bench-partitions.ts
//
// Two measures: placements/s (the whole workload committed at once, clock until no job waits) and
// submit→placed (an open-loop stream of one-task jobs; placed event time − job creation time). On
// one machine every server shares the same cores, so the ratio 4 : 1 says what partitioning costs
// or saves in coordination, not what four hosts would add (see the README's Partitions section).
// Every cell is big enough for its whole workload (nothing parks), so both measures time placement.
// Writes bench/results/partitions.json.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createCell, createTenant } from "../src/bench/cell.ts";
import { waitUntilScheduled } from "../src/bench/drain.ts";
import { round } from "../src/bench/stats.ts";
import { type BenchWorkers, startWorkers } from "../src/bench/workers.ts";
import { generateJobs, submitJobs } from "../src/bench/workload.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { createPool, type Pool } from "../src/db/pool.ts";

const CELLS = ["p-a", "p-b", "p-c", "p-d"];
const TASKS_PER_CELL = Number(process.env.BENCH_TASKS_PER_CELL ?? 10_000);
const STREAM_PER_SECOND = Number(process.env.BENCH_STREAM_RATE ?? 40);
const STREAM_SECONDS = 10;
const WORKERS = 4;

interface Partition {
  pool: Pool;
  url: string;
  cells: string[];
}

async function setUp(servers: number): Promise<{ partitions: Partition[]; stop: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-bench-partitions-"));
  const started = await Promise.all(
    Array.from({ length: servers }, (_, i) =>
      startEmbedded(path.join(dir, `s${i}`), { quiet: true, durable: true }),
    ),
  );
  const partitions: Partition[] = [];
  for (const [i, server] of started.entries()) {
    const pool = createPool(server.url, { max: 4, name: "omega-bench" });
    await migrate(pool);
    await createTenant(pool, "bench");
    const cells = CELLS.filter((_, c) => c % servers === i);
    for (const name of cells) await createCell(pool, { name, machines: 200, cpu: 64_000, memory: 262_144 });
    partitions.push({ pool, url: server.url, cells });
  }
  return {
    partitions,
    stop: async () => {
      await Promise.all(partitions.map((p) => p.pool.end()));
      await Promise.all(started.map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Placements/s: every cell's workload committed at once, timed until no job of any cell waits. */
async function throughput(partitions: Partition[]): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    partitions.flatMap((p) =>
      p.cells.map((cell, i) =>
        submitJobs(p.pool, generateJobs(TASKS_PER_CELL, 1000 + i, 100), {
          cell,
          tenant: "bench",
          scheduler: "batch",
        }),
      ),
    ),
  );
  const ends = await Promise.all(
    partitions.flatMap((p) => p.cells.map((cell) => waitUntilScheduled(p.pool, cell))),
  );
  return (TASKS_PER_CELL * CELLS.length) / ((Math.max(...ends) - t0) / 1000);
}

/** Submit→placed of an open-loop stream of one-task jobs, round robin over the cells: p50, p99. */
async function latency(partitions: Partition[]): Promise<{ p50: number; p99: number; jobs: number }> {
  const cells = partitions.flatMap((p) => p.cells.map((cell) => ({ cell, pool: p.pool })));
  const sent: Promise<unknown>[] = [];
  for (let n = 0; n < STREAM_PER_SECOND * STREAM_SECONDS; n++) {
    const target = cells[n % cells.length];
    if (!target) break;
    const spec = { cell: target.cell, tasks: 1, scheduler: "batch", resources: { cpu: 100, memory: 128 } };
    sent.push(target.pool.query("select omega.submit_job('bench', $1, $2)", [spec, `stream-${n}`]));
    await new Promise((r) => setTimeout(r, 1000 / STREAM_PER_SECOND));
  }
  await Promise.all(sent);
  await Promise.all(cells.map(({ cell, pool }) => waitUntilScheduled(pool, cell)));
  const waits: number[] = [];
  for (const p of partitions) {
    const { rows } = await p.pool.query<{ ms: number }>(
      `select extract(epoch from (e.at - j.created_at)) * 1000 as ms
       from omega.jobs j join omega.events e on e.cell = j.cell and e.job_id = j.id and e.kind = 'placed'
       where j.client_token like 'stream-%'`,
    );
    waits.push(...rows.map((r) => Number(r.ms)));
  }
  waits.sort((a, b) => a - b);
  const at = (q: number) => waits[Math.min(waits.length - 1, Math.floor(q * waits.length))] ?? Number.NaN;
  return { p50: round(at(0.5)), p99: round(at(0.99)), jobs: waits.length };
}

async function run(servers: number) {
  const { partitions, stop } = await setUp(servers);
  const workers: BenchWorkers[] = [];
  try {
    for (const p of partitions) {
      workers.push(
        await startWorkers(p.pool, p.url, { scheduler: "batch", count: WORKERS / servers, concurrency: 2 }),
      );
    }
    const placementsPerSecond = round(await throughput(partitions));
    const stream = await latency(partitions);
    const result = { servers, placementsPerSecond, submitToPlacedMs: stream };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await stop();
  }
}

// The machine is shared and noisy: alternate the two set-ups REPEAT times and compare medians.
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
type Result = Awaited<ReturnType<typeof run>>;
const runs: { one: Result[]; four: Result[] } = { one: [], four: [] };
for (let r = 0; r < REPEAT; r++) {
  runs.one.push(await run(1));
  runs.four.push(await run(4));
}
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};
const summary = (all: Result[]) => ({
  placementsPerSecond: median(all.map((r) => r.placementsPerSecond)),
  submitToPlacedP50: median(all.map((r) => r.submitToPlacedMs.p50)),
  submitToPlacedP99: median(all.map((r) => r.submitToPlacedMs.p99)),
});
const one = summary(runs.one);
const four = summary(runs.four);
const results = {
  workload: {
    cells: CELLS.length,
    tasksPerCell: TASKS_PER_CELL,
    workers: WORKERS,
    streamPerSecond: STREAM_PER_SECOND,
  },
  medians: { one, four },
  ratio: {
    placementsPerSecond: round(four.placementsPerSecond / one.placementsPerSecond, 2),
    submitToPlacedP50: round(four.submitToPlacedP50 / one.submitToPlacedP50, 2),
    submitToPlacedP99: round(four.submitToPlacedP99 / one.submitToPlacedP99, 2),
  },
  runs,
};
console.log(JSON.stringify({ medians: results.medians, ratio: results.ratio }));
await writeFile("bench/results/partitions.json", `${JSON.stringify(results, null, 2)}\n`);
