import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/api/server.ts";
import { type Api, expectProblem, startApi } from "../support/api-client.ts";

let api: Api;
const tokens: Record<string, string> = {};
const jobs: Record<string, number[]> = { acme: [], beta: [] };

beforeAll(async () => {
  api = await startApi();
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  await api.call("PUT", "/v1/cells/east/machines/m1", { body: { resources: { cpu: "8", memory: "16Gi" } } });
  for (const name of ["acme", "beta"]) {
    const tenant = await api.call("POST", "/v1/tenants", { body: { name } });
    tokens[name] = tenant.body.token;
  }
  for (const [name, count] of [
    ["acme", 2],
    ["beta", 1],
  ] as const) {
    for (let i = 0; i < count; i++) {
      const job = await api.call("POST", "/v1/jobs", {
        token: tokens[name],
        body: { name: `${name}-${i}`, cell: "east", tasks: 2, resources: { cpu: "1", memory: "1Gi" } },
      });
      expect(job.status).toBe(201);
      jobs[name]?.push(job.body.id);
    }
  }
});
afterAll(() => api.close());

const TASKS_OF_JOB = `select j.state, j.updated_at, t.state as task_state, t.reason
  from omega.jobs j join omega.tasks t on t.job_id = j.id where j.id = $1 order by t.id`;

describe("tenancy", () => {
  it("shows a tenant only its own jobs; the admin sees every job", async () => {
    const ids = async (path: string, token?: string) =>
      (await api.call("GET", path, { token })).body.jobs.map((j: { id: number }) => j.id);
    expect(await ids("/v1/jobs", tokens.acme)).toEqual(jobs.acme);
    expect(await ids("/v1/jobs", tokens.beta)).toEqual(jobs.beta);
    expect(await ids("/v1/jobs")).toEqual([...(jobs.acme ?? []), ...(jobs.beta ?? [])]);
    expect(await ids("/v1/jobs?tenant=beta")).toEqual(jobs.beta);
    // Naming another tenant does not widen what a tenant sees.
    expect(await ids("/v1/jobs?tenant=acme", tokens.beta)).toEqual([]);
  });

  it("hides another tenant's job (404, not 403) and leaves it untouched when it tries to cancel it", async () => {
    const id = jobs.acme?.[0];
    expectProblem(await api.call("GET", `/v1/jobs/${id}`, { token: tokens.beta }), 404);
    const before = await api.db.pool.query(TASKS_OF_JOB, [id]);
    expectProblem(await api.call("DELETE", `/v1/jobs/${id}`, { token: tokens.beta }), 404);
    const after = await api.db.pool.query(TASKS_OF_JOB, [id]);
    expect(after.rows).toEqual(before.rows);
    const own = await api.call("GET", `/v1/jobs/${id}`, { token: tokens.acme });
    expect(own.body).toMatchObject({ id, state: "pending", taskCounts: { pending: 2 } });
  });

  it("shows a tenant only its own quotas; the admin sees them all", async () => {
    for (const name of ["acme", "beta"]) {
      const set = await api.call("PUT", `/v1/quotas/${name}/east/production`, {
        body: { resources: { cpu: "2" } },
      });
      expect(set.status).toBe(201);
    }
    const mine = await api.call("GET", "/v1/quotas", { token: tokens.beta });
    expect(mine.body.quotas.map((q: { tenant: string }) => q.tenant)).toEqual(["beta"]);
    const all = await api.call("GET", "/v1/quotas");
    expect(all.body.quotas.map((q: { tenant: string }) => q.tenant)).toEqual(["acme", "beta"]);
  });

  it("rotates a tenant's token: the new one works, the old one is refused", async () => {
    const old = tokens.acme;
    const rotated = await api.call("POST", "/v1/tenants/acme/token");
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ name: "acme", token: expect.stringMatching(/^omt_/) });
    expect(rotated.body.token).not.toBe(old);
    const refused = await api.call("GET", "/v1/jobs", { token: old });
    expectProblem(refused, 401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    const accepted = await api.call("GET", "/v1/jobs", { token: rotated.body.token });
    expect(accepted.body.jobs.map((j: { id: number }) => j.id)).toEqual(jobs.acme);
    // The other tenant's token is not affected.
    expect((await api.call("GET", "/v1/jobs", { token: tokens.beta })).status).toBe(200);
  });

  it("lets the owner and the admin cancel", async () => {
    const [first, second] = jobs.acme ?? [];
    const acme = (await api.call("POST", "/v1/tenants/acme/token")).body.token;
    expect((await api.call("DELETE", `/v1/jobs/${first}`, { token: acme })).body).toEqual({
      id: first,
      state: "cancelled",
    });
    expect((await api.call("DELETE", `/v1/jobs/${second}`)).body).toEqual({ id: second, state: "cancelled" });
    const { rows } = await api.db.pool.query(
      "select distinct state from omega.tasks where job_id = any($1)",
      [jobs.acme],
    );
    expect(rows).toEqual([{ state: "cancelled" }]);
  });
});

describe("graceful shutdown", () => {
  it("close() stops taking connections and waits for the requests in flight", async () => {
    const server = await startServer({
      pool: api.db.pool,
      adminToken: "t",
      port: 0,
      host: "127.0.0.1",
      logger: pino({ level: "silent" }),
    });
    // Hold a lock the request needs, so that it is still in flight when close() is called.
    const blocker = await api.db.pool.connect();
    await blocker.query("begin");
    await blocker.query("lock table omega.schedulers in access exclusive mode");
    try {
      const inFlight = fetch(`${server.url}/v1/schedulers`, { headers: { authorization: "Bearer t" } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      let closed = false;
      const closing = server.close().then(() => {
        closed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(closed).toBe(false);
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
      await blocker.query("rollback");
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      await closing;
      expect(closed).toBe(true);
    } finally {
      await blocker.query("rollback").catch(() => {});
      blocker.release();
    }
  });
});
