import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { commitPlan } from "../support/factories.ts";

/** SPEC "Sharing" over HTTP: weights, shares, and quotas that lend and borrow. */
let api: Api;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  api = await startApi({ as: "omega_api" });
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  await api.call("PUT", "/v1/cells/east/machines/m1", { body: { resources: { cpu: "10", memory: "10Gi" } } });
  for (const name of ["ann", "bob"]) {
    const created = await api.call("POST", "/v1/tenants", { body: { name } });
    tokens[name] = created.body.token;
  }
});
afterAll(() => api.close());

describe("weights and shares", () => {
  it("sets a weight (admin only), refuses a bad one, and lists it", async () => {
    const set = await api.call("PUT", "/v1/tenants/bob", { body: { weight: 2.5 } });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ name: "bob", weight: 2.5 });
    for (const body of [{ weight: 0 }, { weight: "2" }, { weight: 2, extra: 1 }, {}]) {
      const bad = await api.call("PUT", "/v1/tenants/bob", { body });
      expect(bad.status, JSON.stringify(body)).toBe(422);
    }
    expect((await api.call("PUT", "/v1/tenants/nobody", { body: { weight: 1 } })).status).toBe(404);
    expect(
      (await api.call("PUT", "/v1/tenants/bob", { body: { weight: 1 }, token: tokens.bob })).status,
    ).toBe(403);
    const listed = await api.call("GET", "/v1/tenants");
    expect(listed.body.tenants).toEqual([
      expect.objectContaining({ name: "ann", weight: 1 }),
      expect.objectContaining({ name: "bob", weight: 2.5 }),
    ]);
  });

  it("shows dominant and weighted shares, a tenant its own only", async () => {
    const job = await api.call("POST", "/v1/jobs", {
      token: tokens.bob,
      body: { cell: "east", tasks: 2, resources: { cpu: "2", memory: "1Gi" } },
    });
    const { rows } = await api.db.pool.query(
      "select t.id, m.id as machine, m.version from omega.tasks t, omega.machines m where t.job_id = $1",
      [job.body.id],
    );
    await commitPlan(
      api.db.pool,
      rows.map((r) => ({ taskId: r.id, machineId: r.machine, version: r.version })),
    );
    const all = await api.call("GET", "/v1/shares?cell=east");
    expect(all.status).toBe(200);
    expect(all.body.shares).toEqual([
      expect.objectContaining({
        tenant: "bob",
        weight: 2.5,
        dominantShare: 0.4,
        weightedShare: 0.16,
        tasks: 2,
      }),
    ]);
    expect(all.body.shares[0].used).toMatchObject({ cpu: 4000, memory: 2048 });
    const mine = await api.call("GET", "/v1/shares", { token: tokens.ann });
    expect(mine.body.shares).toEqual([]);
    expect((await api.call("GET", "/v1/shares?cell=East!")).status).toBe(422);
    expect((await api.call("GET", "/v1/shares?tenant=bob")).status).toBe(422);
  });
});

describe("cohorts", () => {
  it("sets quotas in a cohort with limits, and shows nominal, borrowed and lent", async () => {
    const ann = await api.call("PUT", "/v1/quotas/ann/east/batch", {
      body: { resources: { cpu: "4" }, cohort: "lab", lendingLimit: { cpu: "3" } },
    });
    expect(ann.status).toBe(201);
    expect(ann.body).toMatchObject({
      tenant: "ann",
      cohort: "lab",
      limit: { cpu: 4000 },
      nominal: { cpu: 4000 },
      lendingLimit: { cpu: 3000 },
      borrowingLimit: null,
    });
    // bob already uses 4 cores: with a 2-core quota it must borrow 2 of ann's.
    const bob = await api.call("PUT", "/v1/quotas/bob/east/batch", {
      body: { resources: { cpu: 2000 }, cohort: "lab", borrowingLimit: { cpu: "2" } },
    });
    expect(bob.status).toBe(201);
    expect(bob.body).toMatchObject({
      used: { cpu: 4000 },
      borrowed: { cpu: 2000 },
      borrowingLimit: { cpu: 2000 },
    });
    const quotas = await api.call("GET", "/v1/quotas");
    const byTenant = Object.fromEntries(quotas.body.quotas.map((q: { tenant: string }) => [q.tenant, q]));
    expect(byTenant.ann).toMatchObject({ lent: { cpu: 2000 }, borrowed: { cpu: 0 } });
    expect(byTenant.bob).toMatchObject({ lent: { cpu: 0 }, borrowed: { cpu: 2000 } });
    // A tenant sees its own.
    const mine = await api.call("GET", "/v1/quotas", { token: tokens.bob });
    expect(mine.body.quotas.map((q: { tenant: string }) => q.tenant)).toEqual(["bob"]);
  });

  it("refuses what would take back what is lent (409) and limits without a cohort (422), changing nothing", async () => {
    const lower = await api.call("PUT", "/v1/quotas/ann/east/batch", {
      body: { resources: { cpu: "4" }, cohort: "lab", lendingLimit: { cpu: "1" } },
    });
    expect(lower.status).toBe(409);
    const alone = await api.call("PUT", "/v1/quotas/ann/east/batch", {
      body: { resources: { cpu: "4" }, borrowingLimit: { cpu: "1" } },
    });
    expect(alone.status).toBe(422);
    const bad = await api.call("PUT", "/v1/quotas/ann/east/batch", {
      body: { resources: { cpu: "4" }, cohort: "lab", lendingLimit: { cpu: "x" } },
    });
    expect(bad.status).toBe(422);
    const { rows } = await api.db.pool.query(
      "select lending_limit_cpu, cohort from omega.quotas q join omega.tenants t on t.id = q.tenant_id where t.name = 'ann'",
    );
    expect(rows).toEqual([{ lending_limit_cpu: 3000, cohort: "lab" }]);
  });

  it("admits a job that fits the quota plus what it may borrow, and refuses one past it (422)", async () => {
    const fits = await api.call("POST", "/v1/jobs", {
      token: tokens.bob,
      body: { cell: "east", tasks: 4, resources: { cpu: "1" }, gang: { minAvailable: 4 } },
    });
    expect(fits.status).toBe(201);
    const never = await api.call("POST", "/v1/jobs", {
      token: tokens.bob,
      body: { cell: "east", tasks: 5, resources: { cpu: "1" }, gang: { minAvailable: 5 } },
    });
    expect(never.status).toBe(422);
  });
});
