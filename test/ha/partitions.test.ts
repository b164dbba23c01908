/**
 * Cells across four PostgreSQL servers (partitions) behind a PL/Proxy router database.
 *
 * Four real servers on this machine (Debian's PostgreSQL 15, where plproxy is installed), migrated
 * by a real `omega migrate --partition … --router …`; the router lives in a database of the first.
 * Proves: SQL submitted through the router lands on the partition that owns the cell (and nowhere
 * else), and cancel and how_many_fit follow it; a tenant created through the router works on every
 * partition at once (in SQL and with its token over HTTP); reports merge all partitions; and the
 * race (real worker processes, a random workload, cancellations) runs on two cells of different
 * partitions at once with every invariant holding on both.
 *
 * Runs with the drills (`npm run test:ha`); skipped, saying why, without postgresql-15-plproxy.
 */
import { createHash } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/api/server.ts";
import { databaseUrl } from "../../src/db/database-url.ts";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { newTenantToken } from "../../src/domain/tokens.ts";
import { moveCell } from "../../src/router/move-cell.ts";
import { makeMachine } from "../support/factories.ts";
import { invariantViolations, schedulableButPending } from "../support/invariants.ts";
import { type PgServer, pgServerUnavailable, startPgServer } from "../support/pg-server.ts";
import { omega, waitFor } from "../support/processes.ts";
import {
  createRaceCell,
  profilesFile,
  raceProfiles,
  runWorkload,
  startWorkers,
  stopAll,
  waitQuiescent,
} from "../support/race-driver.ts";
import { raceWorkload } from "../support/race-workload.ts";

const unavailable = pgServerUnavailable({ plproxy: true });
if (unavailable) console.warn(`partition tests skipped: ${unavailable}`);
const SEED = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000);
const sha256 = (text: string) => createHash("sha256").update(text).digest();

let servers: PgServer[] = [];
let partitions: Pool[] = [];
let router: Pool;
let routerUrl: string;

beforeAll(async () => {
  if (unavailable) return;
  servers = await Promise.all([0, 1, 2, 3].map(() => startPgServer()));
  const admin = createPool(servers[0]?.url ?? "", { max: 1 });
  await admin.query("create database omega_router");
  await admin.end();
  routerUrl = databaseUrl(servers[0]?.url ?? "", "omega_router");
  const migrate = omega([
    "migrate",
    ...servers.flatMap((s) => ["--partition", s.url]),
    "--router",
    routerUrl,
  ]);
  expect(await migrate.exited, migrate.output()).toBe(0);
  partitions = servers.map((s) => createPool(s.url, { max: 6, name: "omega-partitions-test" }));
  router = createPool(routerUrl, { max: 4, name: "omega-partitions-test" });
  // c0…c3 on p0…p3, recorded in the router's directory.
  for (let i = 0; i < 4; i++) await router.query("select omega.create_cell($1, $2)", [`c${i}`, i]);
}, 180_000);

afterAll(async () => {
  await router?.end();
  await Promise.all(partitions.map((p) => p.end()));
  await Promise.all(servers.map((s) => s.stop()));
});

describe.skipIf(unavailable)("partitions behind a PL/Proxy router", () => {
  it("a job submitted through the router lands on its cell's partition only; cancel and how_many_fit follow the cell", async () => {
    await router.query("select omega.create_tenant('initech', $1)", [sha256("initech-token")]);
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const spec = { cell: `c${i}`, tasks: 2, resources: { cpu: "100m" } };
      const { rows } = await router.query("select omega.submit_job('initech', $1, $2) as id", [
        spec,
        `k${i}`,
      ]);
      ids.push(rows[0].id);
      // The same key again: the same job (idempotency holds through the router).
      const again = await router.query("select omega.submit_job('initech', $1, $2) as id", [spec, `k${i}`]);
      expect(again.rows[0].id).toBe(rows[0].id);
    }
    for (let p = 0; p < 4; p++) {
      const { rows } = await partitions[p]!.query("select cell, id from omega.jobs order by cell");
      expect(rows).toEqual([{ cell: `c${p}`, id: ids[p] }]);
    }
    await makeMachine(partitions[2]!, { cell: "c2", name: "c2-m1", cpu: 1000, memory: 1024 });
    const fit = await router.query("select * from omega.how_many_fit('c2', $1)", [
      { cpu: "250m", memory: "256Mi" },
    ]);
    expect(fit.rows).toEqual([{ machine: "c2-m1", fits: 4 }]);
    const cancelled = await router.query("select omega.cancel_job('c1', $1, 'initech') as outcome", [ids[1]]);
    expect(cancelled.rows[0].outcome).toBeTruthy();
    const state = await partitions[1]!.query("select state from omega.jobs where id = $1", [ids[1]]);
    expect(state.rows[0].state).toBe("cancelled");
  });

  it("a tenant created through the router works on every partition at once, in SQL and with its token over HTTP", async () => {
    const { token, hash } = newTenantToken();
    const { rows } = await router.query("select omega.create_tenant('hooli', $1) as id", [hash]);
    const id = rows[0].id;
    expect(id).toBeGreaterThanOrEqual(1_000_000_000);
    for (const p of partitions) {
      const found = await p.query("select id from omega.tenants where name = 'hooli'");
      expect(found.rows).toEqual([{ id }]);
    }
    // One API per partition (a deployment routes by cell; here each is asked for its own cell).
    const logger = pino({ level: "silent" });
    const apis = await Promise.all(
      partitions.map((pool) =>
        startServer({ pool, adminToken: "x".repeat(32), port: 0, host: "127.0.0.1", logger }),
      ),
    );
    try {
      for (const [i, api] of apis.entries()) {
        const response = await fetch(`${api.url}/v1/jobs`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ cell: `c${i}`, tasks: 1, resources: { cpu: "100m" } }),
        });
        expect(response.status, await response.clone().text()).toBe(201);
      }
    } finally {
      await Promise.all(apis.map((a) => a.close()));
    }
  });

  it("reports run on every partition and merge", async () => {
    const usage = await router.query("select * from omega.cell_usage() order by cell");
    expect(usage.rows.map((r) => r.cell)).toEqual(["c0", "c1", "c2", "c3"]);
    expect(usage.rows.find((r) => r.cell === "c2")).toMatchObject({ machines_up: 1, capacity_cpu: 1000 });
    const merged = await router.query(
      "select scheduler, plans from omega.scheduler_stats() order by scheduler",
    );
    const each = await Promise.all(
      partitions.map((p) => p.query("select scheduler, plans from omega.scheduler_stats")),
    );
    const sums = new Map<string, number>();
    for (const r of each.flatMap((e) => e.rows))
      sums.set(r.scheduler, (sums.get(r.scheduler) ?? 0) + r.plans);
    expect(merged.rows).toEqual(
      [...sums].sort(([a], [b]) => a.localeCompare(b)).map(([scheduler, plans]) => ({ scheduler, plans })),
    );
  });

  it("the race on two cells of different partitions at once: every invariant holds on both", async () => {
    const sides = [
      { pool: partitions[1]!, url: servers[1]!.url, workload: raceWorkload(SEED, { cell: "race-a" }) },
      { pool: partitions[2]!, url: servers[2]!.url, workload: raceWorkload(SEED + 1, { cell: "race-b" }) },
    ];
    const profiles = await profilesFile(raceProfiles());
    const workers = [];
    try {
      for (const side of sides) {
        await createRaceCell(side.pool, side.workload);
        workers.push(...(await startWorkers(side.url, ["batch", "service"], profiles)));
      }
      const during = await Promise.all(sides.map((s) => runWorkload(s.pool, s.workload)));
      await Promise.all(sides.map((s) => waitQuiescent(s.pool, 60_000)));
      const context = `RACE_SEED=${SEED}`;
      for (const [i, side] of sides.entries()) {
        expect(during[i], context).toEqual([]);
        expect(await invariantViolations(side.pool), context).toEqual([]);
        expect(await schedulableButPending(side.pool), context).toEqual([]);
        const placed = await side.pool.query("select count(*)::int as n from omega.claims");
        expect(placed.rows[0].n, context).toBeGreaterThan(0);
        // Each partition saw only its own cell's work.
        const cells = await side.pool.query("select distinct cell from omega.jobs where cell like 'race-%'");
        expect(cells.rows).toEqual([{ cell: side.workload.cell }]);
      }
    } finally {
      await stopAll(workers);
    }
  }, 180_000);

  it("omega worker --cells serves the partitions that own those cells, in one process", async () => {
    await makeMachine(partitions[1]!, { cell: "c1", name: "c1-m1", cpu: 1000, memory: 1024 });
    const worker = omega(["worker", "--scheduler", "batch", "--cells", "c1,c2"], {
      DATABASE_URL: undefined,
      OMEGA_PARTITIONS: servers.map((s) => s.url).join(" "),
      OMEGA_ROUTER_URL: routerUrl,
    });
    try {
      const ids: number[] = [];
      for (const cell of ["c1", "c2"]) {
        const spec = { cell, tasks: 1, resources: { cpu: "100m", memory: "64Mi" } };
        ids.push((await router.query("select omega.submit_job('initech', $1) as id", [spec])).rows[0].id);
      }
      await waitFor(
        async () => {
          const placed = await Promise.all(
            [1, 2].map(async (p, i) => {
              const { rows } = await partitions[p]!.query("select state from omega.jobs where id = $1", [
                ids[i],
              ]);
              return rows[0]?.state !== "pending";
            }),
          );
          return placed.every(Boolean);
        },
        30_000,
        "both jobs placed",
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${worker.output()}`);
      });
      expect(worker.output()).toContain('"partition":1');
      expect(worker.output()).toContain('"partition":2');
    } finally {
      expect(await worker.stop("SIGTERM"), worker.output()).toBe(0);
    }
  });

  it("a cell moved to another partition under load loses nothing", async () => {
    await router.query("select omega.create_tenant('umbrella', $1)", [sha256("umbrella-token")]);
    await router.query("select omega.create_cell('mover', 0)");
    for (let m = 0; m < 4; m++)
      await makeMachine(partitions[0]!, { cell: "mover", name: `mover-${m}`, cpu: 4000 });
    const workers = [
      ...(await startWorkers(servers[0]!.url, ["batch"])),
      ...(await startWorkers(servers[3]!.url, ["batch"])),
    ];
    const acknowledged = new Map<string, number>();
    let refused = 0;
    let submitting = true;
    // Four clients submitting through the router, each retrying a refused call with its token.
    const clients = [0, 1, 2, 3].map(async (c) => {
      for (let n = 0; submitting; n++) {
        const token = `mover-${c}-${n}`;
        const spec = { cell: "mover", tasks: 1, resources: { cpu: "500m" } };
        for (;;) {
          try {
            const { rows } = await router.query("select omega.submit_job('umbrella', $1, $2) as id", [
              spec,
              token,
            ]);
            acknowledged.set(token, rows[0].id);
            await new Promise((r) => setTimeout(r, 20));
            break;
          } catch {
            refused++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    });
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      const moved = await moveCell({
        cell: "mover",
        partitions: servers.map((s) => s.url),
        routerUrl,
        to: 3,
      });
      await new Promise((r) => setTimeout(r, 2_000));
      submitting = false;
      await Promise.all(clients);
      await waitQuiescent(partitions[3]!, 60_000);

      // Every acknowledged job is on the new partition with the id it was acknowledged with, once.
      const { rows } = await partitions[3]!.query<{ client_token: string; ids: number[] }>(
        "select client_token, array_agg(id::int) as ids from omega.jobs where cell = 'mover' group by 1",
      );
      expect(rows.length).toBe(acknowledged.size);
      for (const r of rows) expect(r.ids).toEqual([acknowledged.get(r.client_token)]);
      // Nothing of the cell is left behind; the invariants hold where it is now; work was placed there.
      const left = await partitions[0]!.query(
        `select (select count(*)::int from omega.jobs where cell = 'mover') as jobs,
                (select count(*)::int from omega.tasks where cell = 'mover') as tasks,
                (select count(*)::int from omega.cells where name = 'mover') as cells`,
      );
      expect(left.rows[0]).toEqual({ jobs: 0, tasks: 0, cells: 0 });
      expect(await invariantViolations(partitions[3]!)).toEqual([]);
      expect(await invariantViolations(partitions[0]!)).toEqual([]);
      expect(await schedulableButPending(partitions[3]!)).toEqual([]);
      const after = await partitions[3]!.query(
        "select count(*)::int as n from omega.claims where cell = 'mover'",
      );
      expect(after.rows[0].n).toBeGreaterThan(0);
      console.log(
        JSON.stringify({
          cellMove: { ...moved, acknowledged: acknowledged.size, refusedAndRetried: refused },
        }),
      );
    } finally {
      submitting = false;
      await Promise.all(clients);
      await stopAll(workers);
    }
  }, 120_000);
});
