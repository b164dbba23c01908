// What the event triggers (migrations/0012_events.sql) cost omega.commit_plan: the same 2,000-placement
// commit timed with the triggers enabled and disabled, alternately, in a scratch database on
// DATABASE_URL's server. Prints the median and spread of each. Usage:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-event-trigger.ts [rounds]
import pg from "pg";
import { generateJobs } from "../src/bench/workload.ts";
import { databaseUrl } from "../src/db/database-url.ts";
import { migrate } from "../src/db/migrate.ts";
import { createPool, type Pool } from "../src/db/pool.ts";

const MACHINES = 200;
const TASKS = 2_000;
const TRIGGERS = ["omega.tasks disable trigger tasks_events", "omega.jobs disable trigger jobs_state_events"];
const server = process.env.DATABASE_URL;
if (!server) throw new Error("DATABASE_URL is required");
const rounds = Number(process.argv[2] ?? 21);
const name = `omega_measure_${process.pid}`;

const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`create database ${name}`);
const pool = createPool(databaseUrl(server, name), { max: 2 });
try {
  await migrate(pool);
  const plan = await populate(pool);
  const timings: Record<string, number[]> = { off: [], on: [], trigger: [] };
  const client = await pool.connect();
  try {
    // Per-function times of this transaction (pg_stat_xact_user_functions): the trigger's own share.
    await client.query("set track_functions = 'all'");
    for (let i = 0; i < rounds * 2; i++) {
      const mode = i % 2 === 0 ? "on" : "off";
      await setTriggers(pool, mode);
      const started = performance.now();
      await client.query("begin");
      await client.query("select * from omega.commit_plan('bench', 'batch', $1, $2, $3)", plan);
      const fn = await client.query<{ ms: number }>(
        "select coalesce(sum(total_time), 0)::float8 as ms from pg_stat_xact_user_functions where funcname like 'record_%'",
      );
      await client.query("commit"); // the deferred job events run here
      const ms = performance.now() - started;
      if (i >= 2) {
        // the first pair warms caches
        timings[mode]?.push(ms);
        if (mode === "on") timings.trigger?.push(fn.rows[0]?.ms ?? 0);
      }
      await reset(pool);
    }
  } finally {
    client.release();
  }
  for (const [what, values] of Object.entries(timings)) {
    const t = values.sort((a, b) => a - b);
    const at = (q: number) => t[Math.floor(q * (t.length - 1))]?.toFixed(1);
    const label = what === "trigger" ? "task event trigger alone" : `commit, triggers ${what}`;
    console.log(`${label}: median ${at(0.5)} ms (p10 ${at(0.1)}, p90 ${at(0.9)}) over ${t.length}`);
  }
} finally {
  await pool.end();
  await admin.query(`drop database ${name} with (force)`);
  await admin.end();
}

/** A cell of 200 machines, a C1M-shaped workload of 2,000 tasks, and a plan that places them all. */
async function populate(pool: Pool): Promise<[number[], number[], number[]]> {
  await pool.query("select omega.create_cell('bench')");
  await pool.query(
    `insert into omega.machines (cell, name, cpu, memory)
     select 'bench', 'm' || i, 32000, 131072 from generate_series(1, $1) i`,
    [MACHINES],
  );
  await pool.query("insert into omega.tenants (name, token_hash) values ('bench', sha256('bench'))");
  for (const job of generateJobs(TASKS, 1)) {
    await pool.query("select omega.submit_job('bench', $1)", [
      { cell: "bench", tasks: job.tasks, resources: { cpu: job.cpu, memory: job.memory } },
    ]);
  }
  const { rows } = await pool.query<{ id: number }>("select id from omega.tasks order by id");
  const machines = await pool.query<{ id: number }>("select id from omega.machines order by id");
  const taskIds = rows.map((r) => r.id);
  const machineIds = taskIds.map((_, i) => machines.rows[i % machines.rows.length]?.id ?? 0);
  return [taskIds, machineIds, taskIds.map(() => 0)];
}

async function setTriggers(pool: Pool, mode: "on" | "off"): Promise<void> {
  for (const t of TRIGGERS)
    await pool.query(`alter table ${mode === "on" ? t.replace("disable", "enable") : t}`);
}

/** Back to all pending, with no trigger firing, then vacuumed so that every round starts alike. */
async function reset(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("set session_replication_role = replica");
    await client.query("delete from omega.claims");
    await client.query("update omega.tasks set state = 'pending'");
    await client.query("update omega.jobs set state = 'pending', pending_count = task_count");
    await client.query("update omega.machines set used_cpu = 0, used_memory = 0, tasks = 0");
    await client.query("delete from omega.events where kind <> 'submitted'");
    await client.query("delete from omega.plans");
    await client.query("reset session_replication_role");
    await client.query("vacuum analyze omega.tasks, omega.jobs, omega.machines, omega.claims, omega.events");
  } finally {
    client.release();
  }
}
