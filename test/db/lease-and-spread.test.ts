import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  emptyState,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

beforeEach(async () => {
  await emptyState(db.pool);
  await makeCell(db.pool);
  await makeTenant(db.pool, "acme");
  await makeTenant(db.pool, "zeta");
});

async function lease(owner: string, limit: number): Promise<number[]> {
  const { rows } = await db.pool.query("select id from omega.lease_jobs('east', 'batch', $1, $2, 30)", [
    owner,
    limit,
  ]);
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

describe("omega.lease_jobs", () => {
  it("serves priority first, then tenants in turn, FIFO within a tenant", async () => {
    const backlog = [];
    for (let i = 0; i < 5; i++) backlog.push(await submitJob(db.pool, { priority: 120 }, "acme"));
    const late = await submitJob(db.pool, { priority: 120 }, "zeta");
    const urgent = await submitJob(db.pool, { priority: 180 }, "acme");
    expect(await lease("w1", 3)).toEqual([urgent, backlog[0], late].sort((a, b) => (a ?? 0) - (b ?? 0)));
    // The rest, in acme's own order.
    expect(await lease("w2", 10)).toEqual(backlog.slice(1));
  });

  it("never hands one job to two workers at once", async () => {
    for (let i = 0; i < 40; i++) await submitJob(db.pool, {}, i % 2 ? "acme" : "zeta");
    const leases = await Promise.all(Array.from({ length: 8 }, (_, i) => lease(`w${i}`, 7)));
    const all = leases.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(40);
  });
});

describe("spreadBy at commit", () => {
  it("holds each value of the label to its share, ceil(tasks / values)", async () => {
    const a = await makeMachine(db.pool, { cpu: 16000, labels: { zone: "a" } });
    const b = await makeMachine(db.pool, { cpu: 16000, labels: { zone: "b" } });
    const bare = await makeMachine(db.pool, { cpu: 16000 });
    const job = await submitJob(db.pool, {
      tasks: 4,
      resources: { cpu: 1000, memory: 1 },
      constraints: { spreadBy: "zone" },
    });
    const [t1, t2, t3, t4] = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(db.pool, [
      { taskId: t1!, machineId: a.id, version: a.version },
      { taskId: t2!, machineId: a.id, version: a.version },
      { taskId: t3!, machineId: a.id, version: a.version },
      { taskId: t4!, machineId: bare.id, version: bare.version },
    ]);
    expect(out.map((o) => o.reason)).toEqual([null, null, "spread", "spread"]);
    const again = await commitPlan(db.pool, [
      { taskId: t3!, machineId: b.id, version: b.version },
      { taskId: t4!, machineId: b.id, version: b.version },
    ]);
    expect(again.map((o) => o.reason)).toEqual([null, null]);
  });
});
