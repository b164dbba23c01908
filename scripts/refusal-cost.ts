/**
 * What refused submissions cost the accepted ones: a real `omega serve`, four clients each
 * alternating a submission the database refuses (an unknown cell: 422) and one it accepts, and the
 * connections opened meanwhile (pg_stat_database.sessions). Before session 15 every refusal cost the
 * API a connection (node-postgres's Pool.query destroyed it): 582 new backends for 600 refusals.
 * `tsx scripts/refusal-cost.ts [requests per client]` (a fresh database of its own).
 */

import { startApiProcess } from "../src/bench/api-process.ts";
import { createCell } from "../src/bench/cell.ts";
import { benchDatabases } from "../src/bench/database.ts";
import { databaseSessions } from "../src/bench/db-cost.ts";
import { createTenantOverHttp } from "../src/bench/http-submissions.ts";
import { startBenchServer } from "../src/bench/server.ts";
import { percentile } from "../src/bench/stats.ts";

const perClient = Number(process.argv[2] ?? 300);
const server = await startBenchServer();
const databases = benchDatabases(server.url);
const db = await databases.create("refusals");
try {
  await createCell(db.pool, { name: "r", machines: 100, cpu: 32_000, memory: 131_072 });
  const api = await startApiProcess(db.url);
  try {
    const token = await createTenantOverHttp(api.url, api.adminToken, "r");
    const post = async (cell: string) => {
      const started = performance.now();
      const res = await fetch(`${api.url}/v1/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ cell, tasks: 1, resources: { cpu: 100, memory: 64 } }),
      });
      await res.text();
      return { status: res.status, ms: performance.now() - started };
    };
    for (let i = 0; i < 50; i++) await post("r"); // the API's connections, opened and used
    const before = await databaseSessions(db.pool);
    const accepted: number[] = [];
    const refused: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < perClient; i++) {
          const r = await post(i % 2 === 0 ? "nowhere" : "r");
          (r.status === 201 ? accepted : refused).push(r.ms);
        }
      }),
    );
    const wallMs = performance.now() - started;
    const fmt = (xs: number[], p: number) => percentile(xs, p).toFixed(1);
    console.table([
      {
        accepted: accepted.length,
        refused: refused.length,
        connectionsOpened: (await databaseSessions(db.pool)) - before,
        wallMs: Math.round(wallMs),
        acceptedP50Ms: fmt(accepted, 50),
        acceptedP99Ms: fmt(accepted, 99),
        refusedP50Ms: fmt(refused, 50),
        refusedP99Ms: fmt(refused, 99),
      },
    ]);
  } finally {
    await api.stop();
  }
} finally {
  await db.drop();
  await databases.close();
  await server.stop();
}
