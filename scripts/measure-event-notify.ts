// What the events' NOTIFY (migrations/0050_event_notify.sql) costs submissions, the commit-heaviest
// path (one small transaction per job, each notifying): 8 connections submit 1-task jobs for a few
// seconds with the trigger enabled and disabled, alternately, in a scratch database on
// DATABASE_URL's server, with the server's own durability settings. Prints jobs/s per mode. Usage:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx scripts/measure-event-notify.ts [rounds] [seconds]
import pg from "pg";
import { databaseUrl } from "../src/db/database-url.ts";
import { migrate } from "../src/db/migrate.ts";
import { createPool } from "../src/db/pool.ts";

const CONNECTIONS = 8;
const server = process.env.DATABASE_URL;
if (!server) throw new Error("DATABASE_URL is required");
const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 5);
const name = `omega_measure_notify_${process.pid}`;

const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`create database ${name}`);
const pool = createPool(databaseUrl(server, name), { max: CONNECTIONS + 2 });
try {
  await migrate(pool);
  await pool.query("insert into omega.cells (name) values ('bench')");
  await pool.query("insert into omega.tenants (name, token_hash) values ('bench', sha256('bench'))");
  // A listener, as the API keeps one: NOTIFY without any listener is cheaper.
  const listener = await pool.connect();
  await listener.query("listen omega_events");
  const spec = JSON.stringify({ cell: "bench", tasks: 1, resources: { cpu: "100m" } });
  const rates: Record<string, number[]> = { on: [], off: [] };
  for (let i = 0; i < rounds * 2; i++) {
    const mode = i % 2 === 0 ? "on" : "off";
    await pool.query(
      `alter table omega.events ${mode === "on" ? "enable" : "disable"} trigger events_notify`,
    );
    const until = Date.now() + seconds * 1000;
    let jobs = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < until) {
          await pool.query("select omega.submit_job('bench', $1)", [spec]);
          jobs++;
        }
      }),
    );
    rates[mode]?.push(jobs / seconds);
  }
  listener.release();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  for (const [mode, xs] of Object.entries(rates)) {
    console.log(
      `notify ${mode}: median ${median(xs).toFixed(0)} jobs/s (${xs.map((x) => x.toFixed(0)).join(", ")})`,
    );
  }
} finally {
  await pool.end();
  await admin.query(`drop database ${name} with (force)`);
  await admin.end();
}
