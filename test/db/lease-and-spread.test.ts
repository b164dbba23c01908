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

  // The statistics are stale (the table was empty when last counted), as in a young cell or after a
  // burst the maintenance has not yet analyzed: that must not turn the lease into a scan of the cell.
  it.each(["lease_jobs", "lease_work"])(
    "%s reads what it leases, not the backlog: a lease of 10 behind 3,000 waiting and 3,000 finished jobs fetches few rows",
    async (fn) => {
      // 3,000 finished jobs first, so that a plan scanning the cell by key reads far past the leased rows.
      await db.pool.query(
        `insert into omega.jobs (cell, tenant_id, priority, scheduler, task_count, pending_count, cpu, memory, gpu, disk, state)
       select 'east', t.id, 100, 'batch', 1, 0, 1000, 1024, 0, 0, 'cancelled'
       from omega.tenants t cross join generate_series(1, 1500) g`,
      );
      await db.pool.query(
        `insert into omega.jobs (cell, tenant_id, priority, scheduler, task_count, pending_count, cpu, memory, gpu, disk)
       select 'east', t.id, 100 + g % 3, 'batch', 1, 1, 1000, 1024, 0, 0
       from omega.tenants t cross join generate_series(1, 1500) g`,
      );
      const client = await db.pool.connect();
      // The session's counts not yet flushed (up to a second's worth of earlier transactions) show
      // in pg_stat_xact too: measure the difference.
      const fetched = async () =>
        (
          await client.query(
            "select idx_tup_fetch::int as n from pg_stat_xact_user_tables where schemaname = 'omega' and relname = 'jobs'",
          )
        ).rows[0].n;
      try {
        await client.query("begin");
        const before = await fetched();
        const { rows } = await client.query(`select id from omega.${fn}('east', 'batch', 'w', 10, 30)`);
        expect(rows).toHaveLength(10);
        // Two tenants × three priorities: six queues, their heads and the rows leased.
        expect((await fetched()) - before).toBeLessThan(100);
      } finally {
        await client.query("rollback");
        client.release();
      }
    },
  );

  it("never hands one job to two workers at once", async () => {
    for (let i = 0; i < 40; i++) await submitJob(db.pool, {}, i % 2 ? "acme" : "zeta");
    const all = await leaseInRacingRounds(lease);
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
