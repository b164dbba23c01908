/**
 * The fixed cost of the scheduling hot path, call by call: a cell of 1,000 machines, small jobs
 * submitted in SQL, then for each job the calls a worker makes (lease, commit) on one connection,
 * serially, so that no lock wait is in the figures. Besides wall times it reports the CPU time of
 * that connection's backend per plan (from /proc), which a busy, shared machine disturbs less.
 * `tsx scripts/commit-cost.ts [plans] [tasks] [jobs-per-plan]` (a fresh database of its own).
 * Each task goes to a random machine; OMEGA_PACKED=1 puts each job's tasks on one machine, as the
 * packing profiles (batch) place them since session 10.
 * Experiments: OMEGA_DISABLE="omega.tasks:tasks_events" turns triggers off; OMEGA_PRE_SQL runs
 * before the jobs are submitted (a table's fillfactor), OMEGA_SETUP_SQL before the timing starts, OMEGA_CLIENT_SQL on the timed connection; OMEGA_EXPLAIN=1 prints auto_explain's plans (with trigger times) of the
 * last lease and commit; OMEGA_FUNCTIONS=1 prints the functions by their own time; OMEGA_PID_FILE=path writes the
 * timed backend's pid there as the timing starts (for `perf record -p`); OMEGA_CALLGRIND=1, against the
 * server of scripts/callgrind-server.sh (DATABASE_URL), counts the timed backend's instructions per
 * commit — the same count however busy the machine is.
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createCell, createTenant } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { median, percentile } from "../src/bench/stats.ts";
import * as db from "../src/db/scheduling.ts";
import {
  backendPid,
  backendCpuMs as cpuMs,
  functionTiming,
  printTopStatements,
  randomPlacements,
  submitSmallJobs,
} from "./cost-report.ts";

// Plans: how many; each of `jobsPerPlan` jobs of `tasks` tasks (defaults: 300 plans of one 3-task job).
const plans = Number(process.argv[2] ?? 300);
const tasks = Number(process.argv[3] ?? 3);
const jobsPerPlan = Number(process.argv[4] ?? 1);
const jobs = plans * jobsPerPlan;
// The first plans load catalogs and make the connection's generic plans: not timed.
const warmUp = Math.min(100, Math.floor(plans / 4));
const server = await startBenchServer();
const databases = benchDatabases(server.url);
const bench = await databases.create("commit_cost");
const pool = bench.pool;

try {
  await createCell(pool, {
    name: "c",
    machines: Number(process.env.MACHINES ?? 1000),
    cpu: 32_000,
    memory: 131_072,
  });
  await createTenant(pool, "t");
  if (process.env.OMEGA_PRE_SQL) await pool.query(process.env.OMEGA_PRE_SQL);
  await submitSmallJobs(pool, jobs, tasks);
  await pool.query("analyze");
  for (const item of (process.env.OMEGA_DISABLE ?? "").split(",").filter(Boolean)) {
    const [table, trigger] = item.split(":");
    await pool.query(`alter table ${table} disable trigger ${trigger}`);
  }
  if (process.env.OMEGA_SETUP_SQL) await pool.query(process.env.OMEGA_SETUP_SQL);
  await pool.query("create extension if not exists pg_stat_statements");
  const { rows: machines } = await pool.query<{ id: number; version: number }>(
    "select id, version from omega.machines where cell = 'c'",
  );
  const client = await pool.connect();
  if (process.env.OMEGA_CLIENT_SQL) await client.query(process.env.OMEGA_CLIENT_SQL);
  const backend = await backendPid(client);
  const functions = await functionTiming(client);
  const times = { lease: [] as number[], commit: [] as number[] };
  const time = async <T>(list: number[] | undefined, f: () => Promise<T>) => {
    const t = performance.now();
    const r = await f();
    list?.push(performance.now() - t);
    return r;
  };
  let cpuStart = 0;
  for (let i = 0; i < plans; i++) {
    const timed = i >= warmUp;
    if (process.env.OMEGA_EXPLAIN && i === plans - 1) {
      client.on("notice", (n) => console.log(n.message));
      await client.query(`load 'auto_explain'; set auto_explain.log_min_duration = 0;
        set auto_explain.log_nested_statements = on; set auto_explain.log_analyze = on;
        set auto_explain.log_triggers = on; set auto_explain.log_level = notice; set client_min_messages = notice`);
    }
    if (i === warmUp) {
      await pool.query("select pg_stat_statements_reset()");
      await functions.start();
      cpuStart = cpuMs(backend);
      if (process.env.OMEGA_PID_FILE) writeFileSync(process.env.OMEGA_PID_FILE, String(backend));
    }
    // As the workers' maintenance does every 5 s: plans made on an empty claims table read the cell.
    if (i % 100 === 99) await pool.query("select omega.refresh_statistics()");
    const { views } = await time(timed ? times.lease : undefined, () =>
      db.leaseWork(client, {
        cell: "c",
        scheduler: "batch",
        owner: "w",
        limit: jobsPerPlan,
        leaseSeconds: 5,
      }),
    );
    const placements = randomPlacements(views, machines, Boolean(process.env.OMEGA_PACKED));
    // Under scripts/callgrind-server.sh: the backend counts the commit's instructions alone.
    const counted = timed && Boolean(process.env.OMEGA_CALLGRIND);
    if (counted) await client.query("select pg_stat_clear_snapshot()");
    await time(timed ? times.commit : undefined, () =>
      db.commitPlan(client, {
        cell: "c",
        scheduler: "batch",
        worker: "w",
        placements,
        transactionMode: "incremental",
        conflictMode: "fine",
      }),
    );
    if (counted) await client.query("select pg_stat_force_next_flush()");
  }
  const backendMsPerPlan = (cpuMs(backend) - cpuStart) / (plans - warmUp);
  if (process.env.OMEGA_CALLGRIND) {
    console.log(`instructions per commit: ${(callgrindInstructions(backend) / (plans - warmUp)).toFixed(0)}`);
  }
  await functions.print(plans - warmUp);
  client.release();
  for (const [name, list] of Object.entries(times)) {
    console.log(
      `${name.padEnd(8)} median ${median(list).toFixed(2)} ms  p90 ${percentile(list, 90).toFixed(2)} ms`,
    );
  }
  console.log(`backend CPU per lease + commit: ${backendMsPerPlan.toFixed(2)} ms`);
  await printTopStatements(pool, plans - warmUp);
} finally {
  await bench.drop();
  await databases.close();
  await server.stop();
}

/** The instructions callgrind counted in `pid`, summed over its dumps (each from a zeroing on). */
function callgrindInstructions(pid: number): number {
  const dir = process.env.OMEGA_CALLGRIND_DIR ?? "/tmp/vg";
  let total = 0;
  for (const part of readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.`))) {
    total += Number(/^summary: (\d+)/m.exec(readFileSync(`${dir}/${part}`, "utf8"))?.[1] ?? 0);
  }
  return total;
}
