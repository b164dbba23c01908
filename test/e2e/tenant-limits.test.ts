import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeCell, makeMachine, makeTenant, rowCounts } from "../support/factories.ts";

/**
 * What a tenant may ask for is the admin's to set (issue 17: H2, M1): priority rights, what a
 * missing quota means per cell, tasks per job, pending tasks, jobs per minute, a minimum request.
 */

let api: Api;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "m1" });
  for (const name of ["acme", "globex", "initech", "hooli"])
    tokens[name] = (await makeTenant(api.db.pool, name)).token;
});
afterAll(() => api?.close());

const job = (extra: Record<string, unknown> = {}) => ({
  cell: "east",
  tasks: 1,
  resources: { cpu: 100 },
  ...extra,
});
const submit = (tenant: string, body: unknown) =>
  api.call("POST", "/v1/jobs", { token: tokens[tenant], body });
const limits = (tenant: string, body: unknown) => api.call("PUT", `/v1/tenants/${tenant}/limits`, { body });

describe("priority rights", () => {
  it("a tenant may not choose a priority above its maximum (batch by default)", async () => {
    for (const priority of [999, 200, "production"]) {
      const r = await submit("acme", job({ priority }));
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.errors[0].path).toBe("priority");
      expect(r.body.detail).toMatch(/above this tenant's maximum, 199 \(batch\)/);
    }
    expect((await submit("acme", job({ priority: 199 }))).status).toBe(201);
    expect((await submit("acme", job({ priority: "best-effort" }))).status).toBe(201);
  });

  it("a production band with no quota is none by default; the admin chooses per cell", async () => {
    const granted = await limits("acme", { maxPriority: "production" });
    expect(granted.body).toMatchObject({ tenant: "acme", maxPriority: 999 });
    const none = await submit("acme", job({ priority: "production" }));
    expect(none.status).toBe(422);
    expect(none.body.detail).toMatch(/no production quota in cell east/);
    const policy = await api.call("PUT", "/v1/cells/east/quota-policy", {
      body: { production: "unlimited" },
    });
    expect(policy.body).toEqual({ cell: "east", batch: "unlimited", production: "unlimited" });
    expect((await submit("acme", job({ priority: "production" }))).status).toBe(201);
    // "none" for batch too: a batch quota is then what admits batch work.
    await api.call("PUT", "/v1/cells/east/quota-policy", { body: { batch: "none", production: "none" } });
    expect((await submit("globex", job())).status).toBe(422);
    await api.call("PUT", "/v1/quotas/globex/east/batch", { body: { resources: { cpu: "2" } } });
    expect((await submit("globex", job())).status).toBe(201);
    await api.call("PUT", "/v1/cells/east/quota-policy", { body: { batch: "unlimited" } });
  });
});

describe("admission limits", () => {
  it("tasks per job: 10,000 by default", async () => {
    const r = await submit("initech", job({ tasks: 10_001 }));
    expect(r.status).toBe(422);
    expect(r.body.errors).toEqual([
      { path: "tasks", message: expect.stringMatching(/at most 10000 per job/) },
    ]);
  });

  it("pending tasks: over the limit is a 429 with Retry-After, and nothing is written", async () => {
    await limits("initech", { maxPendingTasks: 5 });
    expect((await submit("initech", job({ tasks: 3 }))).status).toBe(201);
    const before = await rowCounts(api.db.pool);
    const r = await submit("initech", job({ tasks: 3 }));
    expect(r.status).toBe(429);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(r.body.detail).toMatch(/has 3 tasks waiting to be placed and may have at most 5/);
    expect(await rowCounts(api.db.pool)).toEqual(before);
    expect((await submit("initech", job({ tasks: 2 }))).status).toBe(201);
  });

  it("jobs per minute: a token bucket per tenant, 429 with Retry-After; other tenants unaffected", async () => {
    await limits("hooli", { jobsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await submit("hooli", job())).status).toBe(201);
    const r = await submit("hooli", job());
    expect(r.status).toBe(429);
    // One token every 20 s.
    const wait = Number(r.headers.get("retry-after"));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(20);
    expect((await submit("globex", job())).status).toBe(201);
  });

  it("a minimum request per task: nothing at all is a 422 unless the admin allows it", async () => {
    const zero = await submit("globex", job({ resources: {} }));
    expect(zero.status).toBe(422);
    expect(zero.body.errors[0].path).toBe("resources.cpu");
    await limits("globex", { minTaskRequest: { cpu: 0 } });
    expect((await submit("globex", job({ resources: {} }))).status).toBe(201);
  });
});

describe("the limits themselves", () => {
  it("are the admin's to set and the tenant's to read (its own only)", async () => {
    const own = await api.call("GET", "/v1/tenants/globex/limits", { token: tokens.globex });
    expect(own.body).toEqual({
      tenant: "globex",
      maxPriority: 199,
      maxTasksPerJob: 10_000,
      maxPendingTasks: 100_000,
      jobsPerMinute: 600,
      minTaskRequest: { cpu: 0, memory: 0 },
    });
    expect((await api.call("GET", "/v1/tenants/acme/limits", { token: tokens.globex })).status).toBe(404);
    expect(
      (await api.call("PUT", "/v1/tenants/globex/limits", { token: tokens.globex, body: {} })).status,
    ).toBe(403);
  });

  it("refuse bad values with the field named, changing nothing", async () => {
    for (const [body, path] of [
      [{ maxPriority: 1000 }, "maxPriority"],
      [{ maxPriority: "urgent" }, "maxPriority"],
      [{ maxTasksPerJob: 0 }, "maxTasksPerJob"],
      [{ jobsPerMinute: 1.5 }, "jobsPerMinute"],
      [{ minTaskRequest: { gpu: 1 } }, "minTaskRequest"],
      [{ color: "red" }, "color"],
    ] as const) {
      const r = await limits("globex", body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.errors[0].path).toBe(path);
    }
    expect((await limits("nobody", { maxPriority: 1 })).status).toBe(404);
    const bad = await api.call("PUT", "/v1/cells/east/quota-policy", { body: { production: "some" } });
    expect(bad.status).toBe(422);
  });

  it("can be given when the tenant is created", async () => {
    const r = await api.call("POST", "/v1/tenants", {
      body: { name: "umbrella", limits: { maxPriority: "production" } },
    });
    expect(r.status).toBe(201);
    expect(r.body.limits).toMatchObject({ maxPriority: 999 });
    const refused = await api.call("POST", "/v1/tenants", {
      body: { name: "wonka", limits: { maxPriority: -1 } },
    });
    expect(refused.status).toBe(422);
    expect((await api.call("GET", "/v1/tenants/wonka/limits")).status).toBe(404);
  });
});
