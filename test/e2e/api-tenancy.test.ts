import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../src/api/server.ts";
import { sha256 } from "../../src/domain/tokens.ts";
import { ADMIN, type Api, expectProblem, startApi } from "../support/api-client.ts";

let api: Api;
const tokens: Record<string, string> = {};
const jobs: Record<string, number[]> = { acme: [], beta: [] };

beforeAll(async () => {
  // As a deployment runs it: through a login role of omega_api, so every endpoint proves the role suffices.
  api = await startApi({ as: "omega_api" });
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

// The list, walked over every endpoint of the OpenAPI document (x-omega-auth says which
// token each takes), so that an endpoint added later is covered without touching this file.
describe("every endpoint", () => {
  type Operation = { method: string; path: string; auth: "any" | "admin" | "tenant" | "none" };
  let operations: Operation[];
  let delta: { token: string; job: number };
  let revoked: string;

  beforeAll(async () => {
    const doc = (await api.call("GET", "/openapi.json", { token: null })).body;
    operations = Object.entries(
      doc.paths as Record<string, Record<string, { "x-omega-auth": string }>>,
    ).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        auth: op["x-omega-auth"] as Operation["auth"],
      })),
    );
    const token = (await api.call("POST", "/v1/tenants", { body: { name: "delta" } })).body.token;
    const job = await api.call("POST", "/v1/jobs", {
      token,
      body: { cell: "east", tasks: 1, resources: { cpu: "1" } },
    });
    delta = { token, job: job.body.id };
    // gamma's first token, replaced: a revoked token.
    revoked = (await api.call("POST", "/v1/tenants", { body: { name: "gamma" } })).body.token;
    await api.call("POST", "/v1/tenants/gamma/token");
  });

  /** The path with every parameter naming something that exists: a refusal is about the token only. */
  function pathOf(op: Operation, jobId = delta.job): string {
    return op.path
      .replace("{cell}", "east")
      .replace("{name}", op.path.startsWith("/v1/tenants") ? "delta" : "m1")
      .replace("{tenant}", "delta")
      .replace("{band}", "batch")
      .replace("{id}", String(jobId));
  }

  function send(op: Operation, token: string | null, headers: Record<string, string> = {}, jobId?: number) {
    const body = op.method === "POST" || op.method === "PUT" ? { body: {} } : {};
    return api.call(op.method, pathOf(op, jobId), { token, headers, ...body });
  }

  /** Everything a refused request could have changed, in one value. */
  async function stateDigest(): Promise<string> {
    const { rows } = await api.db.pool.query(`select md5(concat_ws('|',
      (select string_agg(name || encode(token_hash, 'hex'), ',' order by id) from omega.tenants),
      (select string_agg(name || state || version, ',' order by id) from omega.machines),
      (select string_agg(id || state || updated_at, ',' order by id) from omega.jobs),
      (select string_agg(concat_ws(':', cell, tenant_id, band, cpu, memory, gpu, disk), ',' order by cell, tenant_id, band)
       from omega.quotas),
      (select string_agg(name, ',' order by name) from omega.cells),
      (select count(*)::text from omega.tasks where state = 'cancelled'),
      (select count(*)::text from omega.claims))) as digest`);
    return rows[0].digest;
  }

  it("walks every documented endpoint", () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    expect(operations.filter((op) => op.auth === undefined)).toEqual([]);
  });

  it("answers 401 to no token, a malformed one, an unknown one and a revoked one, on every endpoint that takes one, and changes nothing", async () => {
    const before = await stateDigest();
    const attempts: [string, string | null, Record<string, string>][] = [
      ["no token", null, {}],
      ["a scheme and no token", null, { authorization: "Bearer" }],
      ["another scheme", null, { authorization: "Basic ZGVsdGE6eA==" }],
      ["a token with spaces", null, { authorization: "Bearer omt_a b" }],
      ["an unknown token", "omt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", {}],
      ["a revoked token", revoked, {}],
    ];
    for (const op of operations.filter((o) => o.auth !== "none")) {
      for (const [what, token, headers] of attempts) {
        const reply = await send(op, token, headers);
        expect(reply.status, `${what}: ${op.method} ${op.path}`).toBe(401);
        expectProblem(reply, 401);
        expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer realm="omega"/);
      }
    }
    expect(await stateDigest()).toBe(before);
  });

  it("refuses a tenant's token on every admin endpoint (403), and the admin's on every tenant one", async () => {
    const before = await stateDigest();
    for (const op of operations.filter((o) => o.auth === "admin" || o.auth === "tenant")) {
      const reply = await send(op, op.auth === "admin" ? delta.token : ADMIN);
      expect(reply.status, `${op.method} ${op.path}`).toBe(403);
      expectProblem(reply, 403);
    }
    expect(await stateDigest()).toBe(before);
  });

  it("answers another tenant's job id exactly as a job that does not exist (404), on every endpoint that takes one", async () => {
    const beta = tokens.beta;
    const missing = 987_654_321;
    const withId = operations.filter((o) => o.path.includes("{id}") && o.auth !== "admin");
    expect(withId.length).toBeGreaterThanOrEqual(2);
    const before = await stateDigest();
    for (const op of withId) {
      const theirs = await send(op, beta ?? null);
      const nothing = await send(op, beta ?? null, {}, missing);
      expectProblem(theirs, 404);
      // Same status, title and wording: nothing tells an existing id from a missing one.
      expect({ ...theirs.body, detail: theirs.body.detail.replace(String(delta.job), "N") }).toEqual({
        ...nothing.body,
        detail: nothing.body.detail.replace(String(missing), "N"),
      });
    }
    expect(await stateDigest()).toBe(before);
    // The owner gets it (so the 404 above is about who asks).
    for (const op of withId)
      expect((await send(op, delta.token)).status, `${op.method} ${op.path}`).toBe(200);
  });

  it("lists only the caller's jobs whatever the filters say", async () => {
    for (const query of ["", "?cell=east", "?state=pending", "?tenant=delta", "?after=0&limit=1000"]) {
      const reply = await api.call("GET", `/v1/jobs${query}`, { token: tokens.beta });
      expect(
        reply.body.jobs.map((j: { tenant: string }) => j.tenant).filter((t: string) => t !== "beta"),
      ).toEqual([]);
    }
  });

  it("stores only each token's sha256; tokens are 256 random bits and differ per tenant", async () => {
    const { rows } = await api.db.pool.query(
      "select encode(token_hash, 'hex') as hash, t::text as row from omega.tenants t where name = 'delta'",
    );
    expect(rows[0].hash).toBe(sha256(delta.token).toString("hex"));
    expect(rows[0].row).not.toContain(delta.token.slice(4));
    expect(Buffer.from(delta.token.slice(4), "base64url")).toHaveLength(32);
    expect(delta.token).not.toBe(tokens.beta);
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
