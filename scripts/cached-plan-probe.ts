/**
 * Which plan a connection keeps for plan_lock's first statement (a plan's tasks, claims and jobs
 * looked up by key) when it first ran it on an empty cell, as the cell fills and is analyzed.
 * `tsx scripts/cached-plan-probe.ts` (a fresh database of its own; JOBS=20000 three-task jobs).
 * With the empty cell analyzed first (the default) every index costs the same and the cached generic
 * plan reads tasks by an index on (cell, job_id, index) — the whole cell per task. Until 0348 it
 * kept that plan after 60,000 tasks arrived, until refresh_statistics analyzed them (session 27);
 * now plan_lock's first step analyzes a table that outgrew its statistics and step 2 shows the
 * primary keys. NO_ANALYZE=1: never analyzed, the planner assumes ten pages and uses the primary
 * keys throughout.
 */
import { createCell, createTenant } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { submitSmallJobs } from "./cost-report.ts";

const server = await startBenchServer();
const databases = benchDatabases(server.url);
const bench = await databases.create("plan_probe");
const pool = bench.pool;
try {
  await createCell(pool, { name: "c", machines: 100, cpu: 32_000, memory: 131_072 });
  await createTenant(pool, "t");
  if (!process.env.NO_ANALYZE) await pool.query("analyze");
  const a = await pool.connect();
  a.on("notice", (n) => {
    const m = n.message ?? "";
    const lines = m.split("\n").filter((l) => /Index Scan|Seq Scan/.test(l));
    if (m.includes("array_agg(distinct j.tenant_id)"))
      console.log(`  ${lines.map((l) => l.trim()).join("\n  ")}`);
  });
  await a.query(`load 'auto_explain'; set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
    set auto_explain.log_level = notice; set client_min_messages = notice`);
  const probe = async (label: string) => {
    console.log(label);
    const { rows } = await a.query("select id from omega.tasks order by id desc limit 1");
    await a.query("select omega.plan_lock('c', $1::bigint[], '{}'::bigint[], '{}'::bigint[])", [
      [rows[0]?.id ?? 1],
    ]);
  };
  await probe("1. empty cell");
  const jobs = Number(process.env.JOBS ?? 20000);
  await submitSmallJobs(pool, jobs, 3);
  await probe(`2. after ${(3 * jobs).toLocaleString("en-US")} tasks, no analyze`);
  await pool.query("select omega.refresh_statistics()");
  await probe("3. after refresh_statistics");
  await pool.query("analyze omega.tasks");
  await probe("4. after analyze omega.tasks");
  a.release();
} finally {
  await bench.drop();
  await databases.close();
  await server.stop();
}
