import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app.ts";
import { type Api, startApi } from "../support/api-client.ts";

let api: Api;
beforeAll(async () => {
  // As a deployment runs it: through a login role of omega_api, so every endpoint proves the role suffices.
  api = await startApi({ as: "omega_api" });
});
afterAll(() => api.close());

describe("the HTTP API, end to end (no scheduler running: jobs stay pending)", () => {
  let token: string;
  let jobId: number;

  it("creates a cell (201), and refuses the same name again (409)", async () => {
    const created = await api.call("POST", "/v1/cells", { body: { name: "east" } });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe("/v1/cells/east");
    expect(created.body).toMatchObject({ name: "east", machines: { total: 0 } });
    const again = await api.call("POST", "/v1/cells", { body: { name: "east" } });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain("east");
  });

  it("registers machines with Kubernetes quantities, idempotently (201, then 200)", async () => {
    const body = { resources: { cpu: "4", memory: "8Gi" }, labels: { zone: "a" } };
    const first = await api.call("PUT", "/v1/cells/east/machines/m1", { body });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      name: "m1",
      state: "up",
      capacity: { cpu: 4000, memory: 8192, gpu: 0, disk: 0 },
      used: { cpu: 0, memory: 0, gpu: 0, disk: 0 },
      labels: { zone: "a" },
    });
    const same = await api.call("PUT", "/v1/cells/east/machines/m1", { body });
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(first.body.version);
    const second = await api.call("PUT", "/v1/cells/east/machines/m2", {
      body: { resources: { cpu: 2000, memory: 4096 }, taints: [{ key: "dedicated", value: "ml" }] },
    });
    expect(second.status).toBe(201);
    const list = await api.call("GET", "/v1/cells/east/machines");
    expect(list.status).toBe(200);
    expect(list.body.machines.map((m: { name: string }) => m.name)).toEqual(["m1", "m2"]);
  });

  it("creates a tenant and shows its token once", async () => {
    const created = await api.call("POST", "/v1/tenants", { body: { name: "acme" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "acme",
      id: expect.any(Number),
      token: expect.stringMatching(/^omt_/),
    });
    expect(created.headers.get("cache-control")).toBe("no-store");
    token = created.body.token;
    const listed = await api.call("GET", "/v1/tenants");
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const { rows } = await api.db.pool.query("select token_hash from omega.tenants where name = 'acme'");
    expect(rows[0].token_hash.toString("utf8")).not.toContain(token);
  });

  it("submits a job (201 with Location) that waits, with a reason, for its scheduler", async () => {
    const spec = {
      name: "train",
      cell: "east",
      priority: "batch",
      tasks: 3,
      resources: { cpu: "500m", memory: "1Gi" },
      constraints: { selector: { zone: "a" }, maxPerMachine: 2 },
    };
    const submitted = await api.call("POST", "/v1/jobs", { token, body: spec });
    expect(submitted.status, submitted.text).toBe(201);
    jobId = submitted.body.id;
    expect(submitted.headers.get("location")).toBe(`/v1/jobs/${jobId}`);
    expect(submitted.body).toMatchObject({
      state: "pending",
      priority: 150,
      band: "batch",
      scheduler: "batch",
      tenant: "acme",
      resources: { cpu: 500, memory: 1024, gpu: 0, disk: 0 },
      constraints: { selector: { zone: "a" }, maxPerMachine: 2, spreadBy: null },
      gang: null,
    });
    const got = await api.call("GET", `/v1/jobs/${jobId}`, { token });
    expect(got.status).toBe(200);
    expect(got.body.taskCounts).toEqual({
      pending: 3,
      placed: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    });
    expect(got.body.placements).toEqual([]);
    expect(got.body.pendingReasons).toEqual([{ reason: "waiting for the batch scheduler", tasks: 3 }]);
    const asAdmin = await api.call("GET", `/v1/jobs/${jobId}`);
    expect(asAdmin.body.id).toBe(jobId);
  });

  it("shows placements of a job once a claim exists", async () => {
    const { rows } = await api.db.pool.query(
      "select t.id as task_id, m.id as machine_id, m.version from omega.tasks t, omega.machines m where t.job_id = $1 and t.index = 0 and m.name = 'm1'",
      [jobId],
    );
    await api.db.pool.query("select * from omega.commit_plan('east', 'batch', $1, $2, $3)", [
      [rows[0].task_id],
      [rows[0].machine_id],
      [rows[0].version],
    ]);
    const got = await api.call("GET", `/v1/jobs/${jobId}`, { token });
    expect(got.body.taskCounts).toMatchObject({ pending: 2, placed: 1 });
    expect(got.body.placements).toEqual([
      { taskIndex: 0, taskId: rows[0].task_id, machine: "m1", placedAt: expect.any(String) },
    ]);
    const cells = await api.call("GET", "/v1/cells", { token });
    expect(cells.body.cells).toEqual([
      expect.objectContaining({
        name: "east",
        machines: { total: 2, up: 2, draining: 0, down: 0 },
        capacity: { cpu: 6000, memory: 12288, gpu: 0, disk: 0 },
        used: { cpu: 500, memory: 1024, gpu: 0, disk: 0 },
        free: { cpu: 5500, memory: 11264, gpu: 0, disk: 0 },
        tasks: 1,
      }),
    ]);
  });

  it("answers how many more tasks of a shape fit, in total and per up machine", async () => {
    const fit = await api.call("GET", "/v1/cells/east/capacity?cpu=1&memory=1Gi");
    expect(fit.status).toBe(200);
    // m1: 3500m and 7168 MiB free → 3; m2 is tainted dedicated=ml and the shape tolerates nothing.
    expect(fit.body).toMatchObject({ cell: "east", shape: { cpu: 1000, memory: 1024 }, total: 3 });
    expect(fit.body.machines).toEqual([
      { machine: "m1", fits: 3 },
      { machine: "m2", fits: 0 },
    ]);
    // A job spec's constraints, as URL-encoded JSON: m2 (2000m, 4096 MiB) takes 2 once tolerated.
    const constraints = (c: unknown) => `&constraints=${encodeURIComponent(JSON.stringify(c))}`;
    const tolerated = await api.call(
      "GET",
      `/v1/cells/east/capacity?cpu=1&memory=1Gi${constraints({ tolerations: [{ key: "dedicated", value: "ml" }] })}`,
    );
    expect(tolerated.body).toMatchObject({ total: 5, machines: [{ fits: 3 }, { fits: 2 }] });
    const capped = await api.call(
      "GET",
      `/v1/cells/east/capacity?cpu=1${constraints({ selector: { zone: "a" }, maxPerMachine: 2 })}`,
      { token },
    );
    expect(capped.body.machines).toEqual([
      { machine: "m1", fits: 2 },
      { machine: "m2", fits: 0 },
    ]);
    await api.call("POST", "/v1/cells/east/machines/m2/drain");
    const drained = await api.call("GET", "/v1/cells/east/capacity?gpu=0&cpu=1", { token });
    expect(drained.body.machines).toEqual([{ machine: "m1", fits: 3 }]);
    const undrained = await api.call("POST", "/v1/cells/east/machines/m2/undrain");
    expect(undrained.body.state).toBe("up");
  });

  it("lists and cancels jobs; cancelling again is a no-op", async () => {
    const list = await api.call("GET", "/v1/jobs?state=pending&cell=east", { token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      jobs: [expect.objectContaining({ id: jobId, pendingTasks: 2 })],
      next: null,
    });
    const cancelled = await api.call("DELETE", `/v1/jobs/${jobId}`, { token });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ id: jobId, state: "cancelled" });
    const { rows } = await api.db.pool.query(
      "select count(*)::int as n from omega.claims where job_id = $1",
      [jobId],
    );
    expect(rows[0].n).toBe(0);
    const again = await api.call("DELETE", `/v1/jobs/${jobId}`);
    expect(again.body).toEqual({ id: jobId, state: "cancelled" });
    const none = await api.call("GET", "/v1/jobs?state=pending", { token });
    expect(none.body.jobs).toEqual([]);
  });

  it("pages through jobs with ?limit and ?after", async () => {
    for (let i = 0; i < 5; i++) {
      await api.call("POST", "/v1/jobs", {
        token,
        body: { cell: "east", tasks: 1, resources: { cpu: 100 } },
      });
    }
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = await api.call("GET", `/v1/jobs?limit=2&after=${after}`, { token });
      seen.push(...page.body.jobs.map((j: { id: number }) => j.id));
      if (page.body.next === null) break;
      after = page.body.next;
    }
    expect(seen).toHaveLength(6);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it("removes a machine (204): its tasks return to pending", async () => {
    const job = await api.call("POST", "/v1/jobs", {
      token,
      body: {
        cell: "east",
        tasks: 1,
        resources: { cpu: 100 },
        constraints: { tolerations: [{ key: "dedicated", operator: "Exists" }] },
      },
    });
    const { rows } = await api.db.pool.query(
      "select t.id as task_id, m.id as machine_id, m.version from omega.tasks t, omega.machines m where t.job_id = $1 and m.name = 'm2'",
      [job.body.id],
    );
    await api.db.pool.query("select * from omega.commit_plan('east', 'batch', $1, $2, $3)", [
      [rows[0].task_id],
      [rows[0].machine_id],
      [rows[0].version],
    ]);
    const removed = await api.call("DELETE", "/v1/cells/east/machines/m2");
    expect(removed.status).toBe(204);
    const got = await api.call("GET", `/v1/jobs/${job.body.id}`, { token });
    expect(got.body).toMatchObject({
      state: "pending",
      pendingReasons: [{ reason: "machine removed", tasks: 1 }],
    });
    const gone = await api.call("DELETE", "/v1/cells/east/machines/m2");
    expect(gone.status).toBe(404);
  });

  it("sets quotas (201 then 200) and shows limits with usage", async () => {
    const set = await api.call("PUT", "/v1/quotas/acme/east/batch", {
      body: { resources: { cpu: "8", memory: "16Gi" } },
    });
    expect(set.status).toBe(201);
    expect(set.body).toMatchObject({
      tenant: "acme",
      cell: "east",
      band: "batch",
      limit: { cpu: 8000, memory: 16384 },
    });
    expect(set.body.limit.gpu).toBe(1e12); // a dimension left out is not limited
    const reset = await api.call("PUT", "/v1/quotas/acme/east/batch", { body: { resources: { cpu: 9000 } } });
    expect(reset.status).toBe(200);
    const mine = await api.call("GET", "/v1/quotas", { token });
    expect(mine.body.quotas).toEqual([
      expect.objectContaining({ tenant: "acme", limit: expect.objectContaining({ cpu: 9000 }) }),
    ]);
  });

  it("refuses a quota below what the tenant already uses (409), changing nothing", async () => {
    await api.call("POST", "/v1/jobs", { token, body: { cell: "east", tasks: 1, resources: { cpu: 700 } } });
    const { rows } = await api.db.pool.query(
      "select t.id as task_id, m.id as machine_id, m.version from omega.tasks t join omega.jobs j on j.id = t.job_id, omega.machines m where j.cpu = 700 and m.name = 'm1'",
    );
    await api.db.pool.query("select * from omega.commit_plan('east', 'batch', $1, $2, $3)", [
      [rows[0].task_id],
      [rows[0].machine_id],
      [rows[0].version],
    ]);
    const below = await api.call("PUT", "/v1/quotas/acme/east/batch", { body: { resources: { cpu: 100 } } });
    expect(below.status).toBe(409);
    const { rows: quota } = await api.db.pool.query("select cpu from omega.quotas");
    expect(quota).toEqual([{ cpu: 9000 }]);
  });

  it("lists schedulers with their statistics", async () => {
    const reply = await api.call("GET", "/v1/schedulers", { token });
    expect(reply.status).toBe(200);
    // The built-in profiles, seeded by the migrations (SPEC: batch, service, and rebalance, which
    // moves running work; flow, the min-cost-flow scheduler).
    expect(reply.body.schedulers.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(["batch", "flow", "rebalance", "service"]),
    );
    expect(reply.body.schedulers[0].stats).toMatchObject({
      plans: expect.any(Number),
      conflictFraction: expect.any(Number),
    });
    expect(reply.body.schedulers[0].stats.placementsCommitted).toBeGreaterThanOrEqual(1);
  });
});

describe("probes, metrics and the API description", () => {
  it("answers /healthz and /readyz without a token", async () => {
    const health = await api.call("GET", "/healthz", { token: null });
    expect(health).toMatchObject({ status: 200, body: { status: "ok" } });
    const ready = await api.call("GET", "/readyz", { token: null });
    expect(ready).toMatchObject({ status: 200, body: { status: "ready" } });
  });

  it("is not ready when the database is not migrated", async () => {
    await api.db.pool.query("alter table omega_meta.migrations rename to migrations_away");
    try {
      const ready = await api.call("GET", "/readyz", { token: null });
      expect(ready.status).toBe(503);
      expect(ready.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    } finally {
      await api.db.pool.query("alter table omega_meta.migrations_away rename to migrations");
    }
  });

  it("serves Prometheus metrics labelled by route pattern", async () => {
    await api.call("GET", "/v1/jobs/12345");
    const metrics = await api.call("GET", "/metrics", { token: null });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(metrics.text).toContain("process_cpu_user_seconds_total");
    expect(metrics.text).toMatch(
      /http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} \d+/,
    );
    expect(metrics.text).toContain("http_request_duration_seconds_bucket");
    expect(metrics.text).not.toContain("12345");
  });

  it("serves an OpenAPI 3.1 document that describes every route the app serves", async () => {
    const doc = await api.call("GET", "/openapi.json", { token: null });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(Object.keys(doc.body.components.schemas)).toEqual(
      expect.arrayContaining(["JobSpec", "Job", "Problem"]),
    );
    const documented = Object.entries(doc.body.paths).flatMap(([path, ops]) =>
      Object.keys(ops as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(servedRoutes().sort());
    // Every $ref points at something that exists.
    for (const [, name] of doc.text.matchAll(/"#\/components\/schemas\/(\w+)"/g)) {
      expect(doc.body.components.schemas).toHaveProperty(name as string);
    }
  });

  it("refuses an unknown method on a known path with 405 and Allow; answers OPTIONS", async () => {
    const reply = await api.call("PATCH", "/v1/cells");
    expect(reply.status).toBe(405);
    expect(reply.headers.get("allow")).toBe("GET, POST, HEAD, OPTIONS");
    const options = await api.call("OPTIONS", "/v1/jobs/1", { token: null });
    expect(options.status).toBe(204);
    expect(options.headers.get("allow")).toBe("GET, DELETE, HEAD, OPTIONS");
  });
});

/** "METHOD /path/{param}" for every route the express app serves, read from its router. */
function servedRoutes(): string[] {
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const app = createApp({ pool: api.db.pool, adminToken: "x", logger: pino({ level: "silent" }) });
  const walk = (stack: Layer[]): string[] =>
    stack.flatMap((layer) => {
      if (layer.route) {
        const path = layer.route.path.replace(/:(\w+)/g, "{$1}");
        return Object.keys(layer.route.methods)
          .filter((m) => m !== "_all")
          .map((m) => `${m.toUpperCase()} ${path}`);
      }
      return layer.handle?.stack ? walk(layer.handle.stack) : [];
    });
  return walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
}
