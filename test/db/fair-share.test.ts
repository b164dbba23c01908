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
import { leaseInRacingRounds } from "../support/lease-rounds.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

beforeEach(async () => {
  await emptyState(db.pool);
  await makeCell(db.pool);
  for (const t of ["acme", "zeta", "kilo"]) await makeTenant(db.pool, t);
});

async function lease(owner: string, limit: number): Promise<number[]> {
  const { rows } = await db.pool.query("select id from omega.lease_work('east', 'batch', $1, $2, 30)", [
    owner,
    limit,
  ]);
  return rows.map((r) => Number(r.id));
}

/** Leases in the order lease_work picks (its rows come back sorted by id: lease one at a time). */
async function leaseOrder(n: number): Promise<number[]> {
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(...(await lease(`w${i}`, 1)));
  return order;
}

async function place(jobId: number, machineId: number, version: number): Promise<void> {
  const ids = await pendingTaskIds(db.pool, jobId);
  const out = await commitPlan(
    db.pool,
    ids.map((taskId) => ({ taskId, machineId, version })),
  );
  expect(out.every((o) => o.outcome === "committed")).toBe(true);
}

async function shares(): Promise<Record<string, Record<string, number>>> {
  const { rows } = await db.pool.query(
    "select tenant, weight, dominant_share, weighted_share, used_cpu, tasks from omega.tenant_shares where cell = 'east'",
  );
  return Object.fromEntries(rows.map((r) => [r.tenant, r]));
}

describe("omega.tenant_shares", () => {
  it("is each tenant's largest fraction of the cell, over its weight, kept as claims come and go", async () => {
    const m = await makeMachine(db.pool, { cpu: 10000, memory: 10000 });
    const cpuHeavy = await submitJob(db.pool, { tasks: 2, resources: { cpu: 2000, memory: 500 } }, "acme");
    await place(cpuHeavy, m.id, m.version);
    const memHeavy = await submitJob(db.pool, { tasks: 1, resources: { cpu: 100, memory: 3000 } }, "zeta");
    await place(memHeavy, m.id, m.version + 1);
    await db.pool.query("select omega.set_tenant_weight('zeta', 2)");
    let s = await shares();
    expect(s.acme?.dominant_share).toBeCloseTo(0.4);
    expect(s.acme?.weighted_share).toBeCloseTo(0.4);
    expect(s.zeta?.dominant_share).toBeCloseTo(0.3);
    expect(s.zeta?.weighted_share).toBeCloseTo(0.15);
    // Capacity counts while machines are up: a second machine halves every share.
    const m2 = await makeMachine(db.pool, { cpu: 10000, memory: 10000 });
    expect((await shares()).acme?.dominant_share).toBeCloseTo(0.2);
    await db.pool.query("select omega.set_machine_state('east', $1, 'draining')", [m2.name]);
    expect((await shares()).acme?.dominant_share).toBeCloseTo(0.4);
    await db.pool.query("select omega.cancel_job($1)", [cpuHeavy]);
    s = await shares();
    expect(s.acme?.dominant_share).toBe(0);
    expect(Number(s.acme?.tasks)).toBe(0);
  });

  it("matches the claims whichever backends placed and released them", async () => {
    const m = await makeMachine(db.pool, { cpu: 64000, memory: 64000 });
    const jobs: number[] = [];
    for (let i = 0; i < 12; i++) jobs.push(await submitJob(db.pool, { tasks: 2 }, i % 2 ? "acme" : "zeta"));
    let v = m.version;
    for (const j of jobs) await place(j, m.id, v++);
    await Promise.all(jobs.slice(0, 6).map((j) => db.pool.query("select omega.cancel_job($1)", [j])));
    const { rows } = await db.pool.query(`
      select s.tenant, s.used_cpu, s.tasks, (select coalesce(sum(c.cpu), 0) from omega.claims c
        join omega.tenants t on t.id = c.tenant_id where t.name = s.tenant) as claimed_cpu,
        (select count(*) from omega.claims c join omega.tenants t on t.id = c.tenant_id where t.name = s.tenant) as claimed
      from omega.tenant_shares s`);
    for (const r of rows) {
      expect(Number(r.used_cpu)).toBe(Number(r.claimed_cpu));
      expect(Number(r.tasks)).toBe(Number(r.claimed));
    }
  });
});

describe("omega.lease_work order", () => {
  it("serves, within a priority, the lowest weighted dominant share first, FIFO within a tenant", async () => {
    const m = await makeMachine(db.pool, { cpu: 100000, memory: 100000 });
    // acme already holds 30% of the cell, zeta 10%, kilo nothing.
    await place(
      await submitJob(db.pool, { tasks: 3, resources: { cpu: 10000, memory: 1 } }, "acme"),
      m.id,
      m.version,
    );
    await place(
      await submitJob(db.pool, { tasks: 1, resources: { cpu: 10000, memory: 1 } }, "zeta"),
      m.id,
      m.version + 1,
    );
    const a1 = await submitJob(db.pool, { priority: 120 }, "acme");
    const a2 = await submitJob(db.pool, { priority: 120 }, "acme");
    const z1 = await submitJob(db.pool, { priority: 120 }, "zeta");
    const k1 = await submitJob(db.pool, { priority: 120 }, "kilo");
    const urgent = await submitJob(db.pool, { priority: 180 }, "acme");
    expect(await leaseOrder(5)).toEqual([urgent, k1, z1, a1, a2]);
  });

  it("counts a weight: zeta of weight 4 at 40% is served before acme of weight 1 at 20%", async () => {
    const m = await makeMachine(db.pool, { cpu: 100000, memory: 100000 });
    await place(
      await submitJob(db.pool, { tasks: 2, resources: { cpu: 10000, memory: 1 } }, "acme"),
      m.id,
      m.version,
    );
    await place(
      await submitJob(db.pool, { tasks: 4, resources: { cpu: 10000, memory: 1 } }, "zeta"),
      m.id,
      m.version + 1,
    );
    await db.pool.query("select omega.set_tenant_weight('zeta', 4)");
    const a = await submitJob(db.pool, {}, "acme");
    const z = await submitJob(db.pool, {}, "zeta");
    expect(await leaseOrder(2)).toEqual([z, a]);
  });

  it("interleaves tenants within one lease by the share each would reach (progressive filling)", async () => {
    await makeMachine(db.pool, { cpu: 100000, memory: 100000 });
    // acme's first job alone would take it to 50%: zeta's small jobs come before its second.
    const a1 = await submitJob(db.pool, { tasks: 50, resources: { cpu: 1000, memory: 1 } }, "acme");
    const a2 = await submitJob(db.pool, { tasks: 1, resources: { cpu: 1000, memory: 1 } }, "acme");
    const zs: number[] = [];
    for (let i = 0; i < 3; i++)
      zs.push(await submitJob(db.pool, { resources: { cpu: 1000, memory: 1 } }, "zeta"));
    const { rows } = await db.pool.query(`
      with l as (select id from omega.lease_work('east', 'batch', 'w', 3, 30)) select id from l`);
    const leased = rows.map((r) => Number(r.id)).sort((x, y) => x - y);
    expect(leased).toEqual([a1, zs[0], zs[1]].sort((x, y) => (x ?? 0) - (y ?? 0)));
    expect(leased).not.toContain(a2);
  });

  it("never hands one job to two workers at once", async () => {
    await makeMachine(db.pool);
    for (let i = 0; i < 40; i++) await submitJob(db.pool, {}, ["acme", "zeta", "kilo"][i % 3]);
    const all = await leaseInRacingRounds(lease);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(40);
  });
});

describe("omega.set_tenant_weight", () => {
  it("refuses a weight out of range and an unknown tenant", async () => {
    await expect(db.pool.query("select omega.set_tenant_weight('acme', 0)")).rejects.toThrow(/weight/);
    await expect(db.pool.query("select omega.set_tenant_weight('acme', 'NaN')")).rejects.toThrow(/weight/);
    await expect(db.pool.query("select omega.set_tenant_weight('nobody', 2)")).rejects.toThrow(
      /does not exist/,
    );
  });
});
