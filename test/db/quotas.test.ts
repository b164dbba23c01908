import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  emptyState,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  rowCounts,
  setQuota,
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

async function quotaUsage(tenant = "acme") {
  const { rows } = await db.pool.query(
    "select band, limit_cpu, used_cpu from omega.quota_usage where tenant = $1 order by band",
    [tenant],
  );
  return rows;
}

describe("quotas", () => {
  beforeEach(async () => {
    await emptyState(db.pool);
    await makeCell(db.pool);
    await makeTenant(db.pool);
  });

  it("commits up to the quota and rejects the rest with quota_exceeded", async () => {
    const m = await makeMachine(db.pool, { cpu: 16000, memory: 65536 });
    await setQuota(db.pool, { cpu: 3000 });
    const job = await submitJob(db.pool, { tasks: 5, resources: { cpu: 1000, memory: 1 } });
    const tasks = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    expect(out.map((o) => o.reason)).toEqual([null, null, null, "quota_exceeded", "quota_exceeded"]);
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 3000, used_cpu: 3000 }]);
  });

  it("counts each band against its own quota, and best-effort against none", async () => {
    const m = await makeMachine(db.pool, { cpu: 16000, memory: 65536 });
    await setQuota(db.pool, { cpu: 1000 }, { band: "batch" });
    await setQuota(db.pool, { cpu: 0 }, { band: "production" });
    const be = await submitJob(db.pool, {
      tasks: 3,
      priority: "best-effort",
      resources: { cpu: 1000, memory: 1 },
    });
    const batch = await submitJob(db.pool, { tasks: 1, priority: 150, resources: { cpu: 1000, memory: 1 } });
    const tasks = [...(await pendingTaskIds(db.pool, be)), ...(await pendingTaskIds(db.pool, batch))];
    const out = await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    expect(out.every((o) => o.outcome === "committed")).toBe(true);
    expect(await quotaUsage()).toEqual([
      { band: "batch", limit_cpu: 1000, used_cpu: 1000 },
      { band: "production", limit_cpu: 0, used_cpu: 0 },
    ]);
  });

  it("refuses at submission a job that can never fit its quota, and accepts one that must wait", async () => {
    await setQuota(db.pool, { cpu: 2000 });
    const before = await rowCounts(db.pool);
    await expect(submitJob(db.pool, { tasks: 1, resources: { cpu: 3000 } })).rejects.toMatchObject({
      code: "OM422",
      message: expect.stringContaining("can never run within its batch quota"),
    });
    await expect(
      submitJob(db.pool, { tasks: 4, gang: { minAvailable: 3 }, resources: { cpu: 1000 } }),
    ).rejects.toMatchObject({ code: "OM422", message: expect.stringContaining("gang of 3") });
    expect(await rowCounts(db.pool)).toEqual(before);
    // Ten 1-core tasks against a 2-core quota: queueable, two at a time.
    await expect(submitJob(db.pool, { tasks: 10, resources: { cpu: 1000 } })).resolves.toBeGreaterThan(0);
  });

  it("refuses a limit below current usage and keeps the old one", async () => {
    const m = await makeMachine(db.pool, { cpu: 16000, memory: 65536 });
    await setQuota(db.pool, { cpu: 4000 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000, memory: 1 } });
    const tasks = await pendingTaskIds(db.pool, job);
    await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    await expect(setQuota(db.pool, { cpu: 1000 })).rejects.toMatchObject({ code: "OM409" });
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 4000, used_cpu: 2000 }]);
    // Setting a quota after the fact counts the claims already there.
    await setQuota(db.pool, { cpu: 2000 });
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 2000, used_cpu: 2000 }]);
  });

  it("keeps usage in step when claims are released, and the row refuses an overrun whoever writes", async () => {
    const m = await makeMachine(db.pool, { cpu: 16000, memory: 65536 });
    await setQuota(db.pool, { cpu: 2000 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000, memory: 1 } });
    const tasks = await pendingTaskIds(db.pool, job);
    await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    await db.pool.query("select omega.cancel_job($1)", [job]);
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 2000, used_cpu: 0 }]);
    // A claim written behind the procedure's back still counts, and the quota row refuses it.
    const other = await submitJob(db.pool, { tasks: 3, resources: { cpu: 1000, memory: 1 } });
    const [a, b, c] = await pendingTaskIds(db.pool, other);
    const tenant = (await db.pool.query("select id from omega.tenants where name = 'acme'")).rows[0].id;
    const insert = (taskIds: number[]) =>
      db.pool.query(
        `insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler)
         select 'east', t, $2, $3, $4, 100, 1000, 1, 0, 0, 'batch' from unnest($1::bigint[]) t`,
        [taskIds, other, m.id, tenant],
      );
    await expect(insert([a!, b!, c!])).rejects.toMatchObject({ code: "23514" });
    await insert([a!]);
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 2000, used_cpu: 1000 }]);
    // Nor can a claim be shrunk behind the quota's back: claims are immutable.
    await expect(
      db.pool.query("update omega.claims set cpu = 1 where task_id = $1", [a]),
    ).rejects.toMatchObject({
      code: "OM409",
    });
    expect(await quotaUsage()).toEqual([{ band: "batch", limit_cpu: 2000, used_cpu: 1000 }]);
  });
});
