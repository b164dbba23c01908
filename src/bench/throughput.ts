import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SingleBar } from "cli-progress";
import pg from "pg";
import { spawnWorker } from "../cli/worker-process.ts";
import { databaseUrl } from "../db/database-url.ts";
import { startEmbedded } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { describeMachine } from "./machine-info.ts";
import { generateJobs } from "./workload.ts";

interface Options {
  machines: number;
  tasks: number;
  workers: number[];
  scheduler: string;
  seed: number;
}

interface Row {
  workers: number;
  placed: number;
  seconds: number;
  placementsPerSecond: number;
  plans: number;
  conflictFraction: number;
  avgCommitMs: number;
}

/**
 * Scenario `throughput`: the same deterministic cell and workload, placed by 1, 2, 4… scheduler
 * worker processes, each run in a fresh database. The workers are started and listening first;
 * the workload is then submitted in one transaction, and the time runs in the database from that
 * commit to the end of the last plan's commit (submit → all placed; process start-up excluded).
 */
export async function runThroughput(options: Options): Promise<void> {
  const dataDir = process.env.DATABASE_URL ? undefined : await mkdtemp(path.join(tmpdir(), "omega-bench-"));
  const server = dataDir
    ? await startEmbedded(dataDir, { quiet: true })
    : { url: process.env.DATABASE_URL as string, stop: async () => {} };
  const rows: Row[] = [];
  let machine: Awaited<ReturnType<typeof describeMachine>> | undefined;
  try {
    for (const workers of options.workers) {
      const name = `omega_bench_${process.pid}_${workers}`;
      const url = await createDatabase(server.url, name);
      const pool = createPool(url, { max: 4, name: "omega-bench" });
      try {
        await migrate(pool);
        machine ??= await describeMachine(pool);
        await populate(pool, options);
        rows.push(await placeAll(pool, url, options, workers));
      } finally {
        await pool.end();
        await dropDatabase(server.url, name);
      }
    }
  } finally {
    await server.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
  const report = { scenario: "throughput", machine, options, rows };
  console.table(rows);
  await mkdir("bench/results", { recursive: true });
  await writeFile("bench/results/throughput.json", `${JSON.stringify(report, null, 2)}\n`);
}

async function populate(pool: Pool, options: Options): Promise<void> {
  await pool.query("select omega.create_cell('bench')");
  // Registering 10,000 machines one call at a time would time the API, not the scheduler.
  await pool.query(
    `insert into omega.machines (cell, name, cpu, memory, labels)
     select 'bench', 'm' || i, 32000, 131072, jsonb_build_object('zone', 'z' || (i % 3)) from generate_series(1, $1) i`,
    [options.machines],
  );
  await pool.query("insert into omega.tenants (name, token_hash) values ('bench', sha256('bench'))");
}

/** Submits the whole workload in one transaction; returns the database time it became visible. */
async function submitAll(pool: Pool, options: Options): Promise<Date> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    for (const job of generateJobs(options.tasks, options.seed)) {
      await client.query("select omega.submit_job('bench', $1)", [
        {
          cell: "bench",
          tasks: job.tasks,
          scheduler: options.scheduler,
          resources: { cpu: job.cpu, memory: job.memory },
        },
      ]);
    }
    const { rows } = await client.query<{ t: Date }>("select clock_timestamp() as t");
    await client.query("commit");
    return rows[0]?.t as Date;
  } finally {
    client.release();
  }
}

/** Waits until every worker process holds its queue connection (each listens for wake-ups). */
async function waitForWorkers(pool: Pool, scheduler: string, count: number): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where application_name = $1 and query ilike 'listen%'",
      [`omega-worker-${scheduler}`],
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function placeAll(pool: Pool, url: string, options: Options, workers: number): Promise<Row> {
  const bar = new SingleBar({
    format: `${workers} worker(s) {bar} {value}/{total} tasks placed`,
    hideCursor: true,
  });
  bar.start(options.tasks, 0);
  const processes = Array.from({ length: workers }, () =>
    spawnWorker(url, options.scheduler, { env: { LOG_LEVEL: "warn" }, stdout: "ignore" }),
  );
  let submittedAt: Date;
  try {
    await waitForWorkers(pool, options.scheduler, workers);
    submittedAt = await submitAll(pool, options);
    for (;;) {
      const { rows } = await pool.query<{ placed: number; waiting: number }>(
        `select (select count(*)::int from omega.claims) as placed,
                (select count(*)::int from omega.jobs where state = 'pending' and not blocked) as waiting`,
      );
      bar.update(rows[0]?.placed ?? 0);
      if (rows[0]?.waiting === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    bar.stop();
    await Promise.all(processes.map((p) => p.stop()));
  }
  const { rows } = await pool.query(
    `select (select count(*)::int from omega.claims) as placed,
            extract(epoch from max(committed_at + duration_ms * interval '1 ms') - $1)::float as seconds
     from omega.plans`,
    [submittedAt],
  );
  const stats = await pool.query("select * from omega.scheduler_stats where scheduler = $1", [
    options.scheduler,
  ]);
  const placed = rows[0].placed as number;
  const seconds = Math.max(rows[0].seconds as number, 0.001);
  return {
    workers,
    placed,
    seconds: Number(seconds.toFixed(2)),
    placementsPerSecond: Math.round(placed / seconds),
    plans: stats.rows[0].plans,
    conflictFraction: Number(Number(stats.rows[0].conflict_fraction).toFixed(3)),
    avgCommitMs: Number(Number(stats.rows[0].avg_commit_ms).toFixed(1)),
  };
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  return databaseUrl(serverUrl, name);
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
