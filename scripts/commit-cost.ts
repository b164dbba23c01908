/**
 * The fixed cost of the scheduling hot path, call by call: a cell of 1,000 machines, small jobs
 * submitted in SQL, then for each job the calls a worker makes (lease, commit), timed from
 * the client, serially, so that no lock wait is in the figures. `tsx scripts/commit-cost.ts [jobs]`
 * against DATABASE_URL (a fresh database of its own on that server).
 */

import { createCell, createTenant } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { median, percentile } from "../src/bench/stats.ts";
import * as db from "../src/db/scheduling.ts";

// Plans: how many; each of `jobsPerPlan` jobs of `tasks` tasks (defaults: 300 plans of one 3-task job).
const plans = Number(process.argv[2] ?? 300);
const tasks = Number(process.argv[3] ?? 3);
const jobsPerPlan = Number(process.argv[4] ?? 1);
const jobs = plans * jobsPerPlan;
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
  await pool.query(
    `select omega.submit_job('t', jsonb_build_object('cell', 'c', 'tasks', $2::int, 'resources', jsonb_build_object('cpu', 10, 'memory', 16)))
     from generate_series(1, $1)`,
    [jobs, tasks],
  );
  await pool.query("analyze");
  // Experiments: OMEGA_DISABLE="omega.tasks:tasks_events,omega.claims:ALL" turns triggers off.
  for (const item of (process.env.OMEGA_DISABLE ?? "").split(",").filter(Boolean)) {
    const [table, trigger] = item.split(":");
    await pool.query(`alter table ${table} disable trigger ${trigger}`);
  }
  await pool.query("create extension if not exists pg_stat_statements");
  await pool.query("select pg_stat_statements_reset()");
  const { rows: machines } = await pool.query<{ id: number; version: number }>(
    "select id, version from omega.machines where cell = 'c'",
  );
  const times = {
    lease: [] as number[],
    views: [] as number[],
    commit: [] as number[],
    release: [] as number[],
  };
  const time = async <T>(list: number[], f: () => Promise<T>) => {
    const t = performance.now();
    const r = await f();
    list.push(performance.now() - t);
    return r;
  };
  for (let i = 0; i < plans; i++) {
    const { views } = await time(times.lease, () =>
      db.leaseWork(pool, { cell: "c", scheduler: "batch", owner: "w", limit: jobsPerPlan, leaseSeconds: 5 }),
    );
    const placements = views
      .flatMap((v) => v.pendingTaskIds)
      .map((taskId) => {
        const m = machines[Math.floor(Math.random() * machines.length)] as { id: number; version: number };
        return { taskId, machineId: m.id, machineVersion: m.version };
      });
    await time(times.commit, () =>
      db.commitPlan(pool, {
        cell: "c",
        scheduler: "batch",
        worker: "w",
        placements,
        transactionMode: "incremental",
        conflictMode: "fine",
      }),
    );
  }
  for (const [name, list] of Object.entries(times)) {
    console.log(
      `${name.padEnd(8)} median ${median(list).toFixed(2)} ms  p90 ${percentile(list, 90).toFixed(2)} ms`,
    );
  }
  const { rows } = await pool
    .query(
      `select calls, round(mean_exec_time::numeric, 3) as mean_ms, round(mean_plan_time::numeric, 3) as plan_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
     from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
     order by total_exec_time desc limit 20`,
    )
    .catch(() => ({ rows: [] }));
  console.table(rows);
} finally {
  await bench.drop();
  await databases.close();
  await server.stop();
}
