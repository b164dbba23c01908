/**
 * `omega serve` over four partitions: one HTTP entry routing every request by cell.
 *
 * Four real PostgreSQL 15 servers migrated by a real `omega migrate --partition … --router …`, a
 * real `omega serve --router … --partition …` process. Proves: ids are unique across partitions
 * (each partition makes its own residue class); a job submitted over HTTP lands on the partition
 * that owns its cell and nowhere else, and GET/DELETE by id find it; cluster-wide lists merge every
 * partition; a tenant created (and its limits and token changed) through the API is on every
 * partition the moment it is answered, and works in every cell at once; a cell moved to another
 * partition while clients submit over HTTP keeps serving — every acknowledged job keeps its id and
 * is found by id, and new jobs land on the new partition.
 *
 * Runs with the drills (`npm run test:ha`); skipped, saying why, without postgresql-15-plproxy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../../src/db/database-url.ts";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { moveCell } from "../../src/router/move-cell.ts";
import { type PgServer, pgServerUnavailable, startPgServer } from "../support/pg-server.ts";
import { freePort, type OmegaProcess, omega, waitFor } from "../support/processes.ts";
import { follow } from "../support/sse.ts";

const unavailable = pgServerUnavailable({ plproxy: true });
if (unavailable) console.warn(`partitioned serve tests skipped: ${unavailable}`);
const ADMIN = "partitioned-admin-token-0123456789";

let servers: PgServer[] = [];
let partitions: Pool[] = [];
let router: Pool;
let routerUrl: string;
let serve: OmegaProcess | undefined;
let api: string;

interface Reply {
  status: number;
  body: Record<string, unknown> & { id?: number };
}

async function call(
  method: string,
  path: string,
  token: string,
  body?: unknown,
  headers = {},
): Promise<Reply> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** Which partitions hold job `id` (by their index). */
async function holders(id: number): Promise<number[]> {
  const found = await Promise.all(
    partitions.map((p) => p.query("select 1 from omega.jobs where id = $1", [id]).then((r) => r.rowCount)),
  );
  return found.flatMap((n, i) => (n ? [i] : []));
}

beforeAll(async () => {
  if (unavailable) return;
  servers = await Promise.all([0, 1, 2, 3].map(() => startPgServer()));
  const admin = createPool(servers[0]?.url ?? "", { max: 1 });
  await admin.query("create database omega_router");
  await admin.end();
  routerUrl = databaseUrl(servers[0]?.url ?? "", "omega_router");
  const partitionArgs = servers.flatMap((s) => ["--partition", s.url]);
  const migrate = omega(["migrate", ...partitionArgs, "--router", routerUrl]);
  expect(await migrate.exited, migrate.output()).toBe(0);
  partitions = servers.map((s) => createPool(s.url, { max: 4, name: "omega-partitioned-test" }));
  router = createPool(routerUrl, { max: 2, name: "omega-partitioned-test" });
  // r0…r3 on p0…p3, recorded in the router's directory.
  for (let i = 0; i < 4; i++) await router.query("select omega.create_cell($1, $2)", [`r${i}`, i]);
  const port = await freePort();
  serve = omega(["serve", "--port", String(port), "--router", routerUrl, ...partitionArgs], {
    OMEGA_ADMIN_TOKEN: ADMIN,
    DATABASE_URL: undefined,
    OMEGA_PARTITIONS: undefined,
    OMEGA_ROUTER_URL: undefined,
  });
  api = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${api}/readyz`)).status === 200,
    60_000,
    `omega serve over partitions to be ready:\n${serve.output()}`,
  );
}, 180_000);

afterAll(async () => {
  await serve?.stop();
  await router?.end();
  await Promise.all(partitions.map((p) => p.end()));
  await Promise.all(servers.map((s) => s.stop()));
});

describe.skipIf(unavailable)("omega serve over four partitions", () => {
  let token: string;
  const jobs: { id: number; cell: string }[] = [];

  it("each partition makes ids of its own residue class: partition k of 4 makes ids ≡ k+1 (mod 4)", async () => {
    for (const [k, p] of partitions.entries()) {
      const { rows } = await p.query<{ table_name: string; increment: string; next: string }>(
        `select c.table_name, s.increment_by::text as increment,
           (coalesce(s.last_value, s.start_value))::text as next
         from information_schema.columns c
         join pg_sequences s on s.schemaname || '.' || s.sequencename = pg_get_serial_sequence('omega.' || c.table_name, 'id')
         where c.table_schema = 'omega' and c.column_name = 'id' and c.is_identity = 'YES'`,
      );
      expect(rows.map((r) => r.table_name).sort()).toEqual([
        "events",
        "jobs",
        "machine_changes",
        "machines",
        "moves",
        "periodic",
        "plans",
        "tasks",
        "tenants",
        "workflows",
      ]);
      for (const r of rows) {
        expect(r.increment, r.table_name).toBe("4");
        expect((Number(r.next) - 1) % 4, `${r.table_name} on p${k}`).toBe(k);
      }
    }
  });

  it("a tenant created through the API is on every partition at once, and its token works in every cell", async () => {
    const created = await call("POST", "/v1/tenants", ADMIN, {
      name: "globex",
      limits: { maxPriority: 150 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    token = String(created.body.token);
    // Immediately: the same row (id, name, token hash, limits) on every partition.
    const rows = await Promise.all(
      partitions.map((p) =>
        p
          .query(
            "select id::int, name, encode(token_hash, 'hex') as hash, max_priority from omega.tenants where name = 'globex'",
          )
          .then((r) => r.rows),
      ),
    );
    for (const r of rows) expect(r).toEqual([{ ...rows[0]?.[0], id: created.body.id, max_priority: 150 }]);
    // A job in each partition's cell, with no pause in between.
    for (let i = 0; i < 4; i++) {
      const job = await call("POST", "/v1/jobs", token, {
        cell: `r${i}`,
        tasks: 2,
        resources: { cpu: "100m" },
      });
      expect(job.status, JSON.stringify(job.body)).toBe(201);
      jobs.push({ id: Number(job.body.id), cell: `r${i}` });
    }
  });

  it("a tenant's limits and token, changed through the API, change on every partition", async () => {
    const limits = await call("PUT", "/v1/tenants/globex/limits", ADMIN, { maxPriority: 120 });
    expect(limits.status, JSON.stringify(limits.body)).toBe(200);
    for (const p of partitions) {
      const { rows } = await p.query("select max_priority from omega.tenants where name = 'globex'");
      expect(rows).toEqual([{ max_priority: 120 }]);
    }
    // Over its new limit on every partition at once.
    for (let i = 0; i < 4; i++) {
      const refused = await call("POST", "/v1/jobs", token, { cell: `r${i}`, tasks: 1, priority: 150 });
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    }
    const rotated = await call("POST", "/v1/tenants/globex/token", ADMIN);
    expect(rotated.status).toBe(200);
    const old = token;
    token = String(rotated.body.token);
    for (let i = 0; i < 4; i++) {
      expect((await call("GET", `/v1/jobs?cell=r${i}`, old)).status).toBe(401);
      expect((await call("GET", `/v1/jobs?cell=r${i}`, token)).status).toBe(200);
    }
  });

  it("a tenant's jobs per minute count over every partition, as with one database", async () => {
    const created = await call("POST", "/v1/tenants", ADMIN, {
      name: "trickle",
      limits: { jobsPerMinute: 2 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const trickle = String(created.body.token);
    const statuses = [];
    for (const cell of ["r0", "r1", "r2"]) {
      statuses.push(
        (await call("POST", "/v1/jobs", trickle, { cell, tasks: 1, resources: { cpu: "100m" } })).status,
      );
    }
    expect(statuses).toEqual([201, 201, 429]);
  });

  it("each job lands on the partition that owns its cell, and only there; GET and DELETE by id find it", async () => {
    for (let i = 0; i < 4; i++) {
      for (let n = 0; n < 3; n++) {
        const job = await call("POST", "/v1/jobs", token, {
          cell: `r${i}`,
          tasks: 1,
          resources: { cpu: "100m" },
        });
        expect(job.status, JSON.stringify(job.body)).toBe(201);
        jobs.push({ id: Number(job.body.id), cell: `r${i}` });
      }
    }
    expect(new Set(jobs.map((j) => j.id)).size).toBe(jobs.length);
    for (const job of jobs) {
      const owner = Number(job.cell.slice(1));
      expect(await holders(job.id), `job ${job.id} of ${job.cell}`).toEqual([owner]);
      // Made on its owner: the id says so.
      expect((job.id - 1) % 4).toBe(owner);
      const got = await call("GET", `/v1/jobs/${job.id}`, token);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: job.id, cell: job.cell });
      const events = await call("GET", `/v1/jobs/${job.id}/events`, token);
      expect(events.status).toBe(200);
    }
    expect((await call("GET", "/v1/jobs/999999", token)).status).toBe(404);
    const last = jobs[jobs.length - 1] as { id: number };
    const cancelled = await call("DELETE", `/v1/jobs/${last.id}`, token);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ id: last.id, state: "cancelled" });
  });

  it("cluster-wide lists merge every partition: jobs page by page in id order, cells, events", async () => {
    const seen: number[] = [];
    for (let after = 0, pages = 0; pages < 50; pages++) {
      const page = await call("GET", `/v1/jobs?limit=5&after=${after}`, token);
      expect(page.status).toBe(200);
      const ids = (page.body.jobs as { id: number }[]).map((j) => j.id);
      seen.push(...ids);
      if (page.body.next === null) break;
      after = Number(page.body.next);
    }
    expect(seen).toEqual(jobs.map((j) => j.id).sort((a, b) => a - b));
    const cells = await call("GET", "/v1/cells", ADMIN);
    expect((cells.body.cells as { name: string }[]).map((c) => c.name)).toEqual(["r0", "r1", "r2", "r3"]);
    const events = await call("GET", "/v1/events?after=0&limit=1000", ADMIN);
    const cellsWithEvents = new Set((events.body.events as { cell: string }[]).map((e) => e.cell));
    expect([...cellsWithEvents].sort()).toEqual(["r0", "r1", "r2", "r3"]);
    const schedulers = await call("GET", "/v1/schedulers", ADMIN);
    expect((schedulers.body.schedulers as { name: string }[]).map((s) => s.name)).toContain("batch");
  });

  it("event streams follow every partition at once, one cell, or one job wherever it is", async () => {
    const everything = await follow(`${api}/v1/events?follow=true`, ADMIN);
    const oneCell = await follow(`${api}/v1/events?follow=true&cell=r3`, token);
    try {
      const made: number[] = [];
      for (const cell of ["r0", "r3"]) {
        const job = await call("POST", "/v1/jobs", token, { cell, tasks: 1, resources: { cpu: "100m" } });
        expect(job.status).toBe(201);
        made.push(Number(job.body.id));
      }
      const submitted = (f: typeof everything) =>
        new Set(f.data().flatMap((e) => (e.kind === "submitted" ? [e.jobId] : [])));
      await everything.until(
        (f) => made.every((id) => submitted(f).has(id)),
        "both jobs' events, merged",
        30_000,
      );
      await oneCell.until((f) => submitted(f).has(made[1] as number), "r3's job's events", 30_000);
      expect(submitted(oneCell).has(made[0] as number)).toBe(false);
      const byJob = await follow(`${api}/v1/jobs/${made[1]}/events?follow=true`, token);
      try {
        await byJob.until(
          (f) => f.data().some((e) => e.kind === "submitted"),
          "the job's own stream",
          30_000,
        );
        expect(new Set(byJob.data().map((e) => e.jobId))).toEqual(new Set([made[1]]));
      } finally {
        byJob.close();
      }
    } finally {
      everything.close();
      oneCell.close();
    }
  });

  it("a cell moved to another partition while clients submit over HTTP keeps serving, nothing lost", async () => {
    const acknowledged = new Map<string, number>();
    let retried = 0;
    let submitting = true;
    // Four clients, each retrying a refused submission (503 while the cell moves, 429 beyond the
    // tenant's rate) with its key.
    const clients = [0, 1, 2, 3].map(async (c) => {
      for (let n = 0; submitting; n++) {
        const key = `move-${c}-${n}`;
        for (;;) {
          const job = await call(
            "POST",
            "/v1/jobs",
            token,
            { cell: "r1", tasks: 1, resources: { cpu: "100m" } },
            { "idempotency-key": key },
          ).catch(() => ({ status: 0, body: {} }) as Reply);
          if (job.status === 201) {
            acknowledged.set(key, Number(job.body.id));
            break;
          }
          // 429: four clients in tight loops outrun the tenant's 600 jobs a minute once the API is
          // fast; a refusal to retry like the others (what is measured here is that nothing is lost).
          expect([0, 429, 502, 503], JSON.stringify(job.body)).toContain(job.status);
          retried++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      await moveCell({ cell: "r1", partitions: servers.map((s) => s.url), routerUrl, to: 2 });
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      submitting = false;
      await Promise.all(clients);
    }
    expect(acknowledged.size).toBeGreaterThan(0);
    // Every acknowledged job is on the new partition only, once, with its id; found by id over HTTP.
    const { rows } = await partitions[2]!.query<{ client_token: string; ids: number[] }>(
      "select client_token, array_agg(id::int) as ids from omega.jobs where cell = 'r1' and client_token like 'move-%' group by 1",
    );
    expect(rows.length).toBe(acknowledged.size);
    for (const r of rows) expect(r.ids).toEqual([acknowledged.get(r.client_token)]);
    const left = await partitions[1]!.query("select count(*)::int as n from omega.jobs where cell = 'r1'");
    expect(left.rows[0].n).toBe(0);
    const earlier = jobs.filter((j) => j.cell === "r1");
    for (const id of [...acknowledged.values(), ...earlier.map((j) => j.id)]) {
      const got = await call("GET", `/v1/jobs/${id}`, token);
      expect(got.status, `job ${id}`).toBe(200);
      expect(got.body).toMatchObject({ id, cell: "r1" });
    }
    // New jobs of the moved cell land on its new partition, with the new partition's ids.
    const fresh = await call("POST", "/v1/jobs", token, { cell: "r1", tasks: 1, resources: { cpu: "100m" } });
    expect(fresh.status).toBe(201);
    expect(await holders(Number(fresh.body.id))).toEqual([2]);
    expect((Number(fresh.body.id) - 1) % 4).toBe(2);
    expect((await call("GET", `/v1/cells/r1`, ADMIN)).status).toBe(200);
    // No id is on two partitions.
    const all = await Promise.all(
      partitions.map((p) =>
        p.query<{ id: string }>("select id from omega.jobs").then((r) => r.rows.map((x) => x.id)),
      ),
    );
    const ids = all.flat();
    expect(new Set(ids).size).toBe(ids.length);
    console.log(JSON.stringify({ movedOverHttp: { acknowledged: acknowledged.size, retried } }));
  }, 120_000);
});
