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
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe("omega.commit_plan", () => {
  beforeEach(async () => {
    await emptyState(db.pool);
    await makeCell(db.pool);
    await makeTenant(db.pool);
  });

  it("commits placements that fit and bumps the machine version", async () => {
    const m = await makeMachine(db.pool, { cpu: 4000 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 2000 } });
    const [t1, t2] = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(db.pool, [
      { taskId: t1!, machineId: m.id, version: m.version },
      { taskId: t2!, machineId: m.id, version: m.version },
    ]);
    expect(out.map((o) => o.outcome)).toEqual(["committed", "committed"]);
    const { rows } = await db.pool.query(
      "select used_cpu, tasks, version from omega.machines where id = $1",
      [m.id],
    );
    expect(rows[0]).toEqual({ used_cpu: 4000, tasks: 2, version: m.version + 1 });
    const job_ = await db.pool.query("select state, pending_count from omega.jobs where id = $1", [job]);
    expect(job_.rows[0]).toEqual({ state: "placed", pending_count: 0 });
  });

  it("does not wait for a machine another transaction holds: its placements are machine_busy, the rest commit", async () => {
    const busy = await makeMachine(db.pool);
    const free = await makeMachine(db.pool);
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000 } });
    const [t1, t2] = await pendingTaskIds(db.pool, job);
    const holder = await db.pool.connect();
    try {
      await holder.query("begin");
      await holder.query("select from omega.machines where id = $1 for update", [busy.id]);
      const started = performance.now();
      const out = await commitPlan(db.pool, [
        { taskId: t1!, machineId: busy.id, version: busy.version },
        { taskId: t2!, machineId: free.id, version: free.version },
      ]);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(out.map((o) => o.reason)).toEqual(["machine_busy", null]);
    } finally {
      await holder.query("rollback");
      holder.release();
    }
    const { rows } = await db.pool.query("select task_id, machine_id from omega.claims");
    expect(rows).toEqual([{ task_id: t2, machine_id: free.id }]);
  });

  it("rejects a placement that no longer fits, writing nothing for it", async () => {
    const m = await makeMachine(db.pool, { cpu: 3000 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 2000 } });
    const [t1, t2] = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(db.pool, [
      { taskId: t1!, machineId: m.id, version: m.version },
      { taskId: t2!, machineId: m.id, version: m.version },
    ]);
    expect(out.map((o) => o.reason)).toEqual([null, "insufficient_resources"]);
    const { rows } = await db.pool.query("select task_id from omega.claims");
    expect(rows).toEqual([{ task_id: t1 }]);
    const t = await db.pool.query("select state from omega.tasks where id = $1", [t2]);
    expect(t.rows[0].state).toBe("pending");
  });

  it.each([
    ["draining", "machine_not_up"],
    ["down", "machine_not_up"],
  ])("rejects placements on a %s machine", async (state, reason) => {
    const m = await makeMachine(db.pool, { name: "n1" });
    await db.pool.query("select omega.set_machine_state('east', 'n1', $1)", [state]);
    const job = await submitJob(db.pool);
    const [t1] = await pendingTaskIds(db.pool, job);
    const before = await rowCounts(db.pool);
    const out = await commitPlan(db.pool, [{ taskId: t1!, machineId: m.id, version: m.version + 1 }]);
    expect(out[0]?.reason).toBe(reason);
    const after = await rowCounts(db.pool);
    expect({ ...after, plans: before.plans }).toEqual(before);
  });

  it("rejects a task that is already placed, or cancelled", async () => {
    const m = await makeMachine(db.pool);
    const job = await submitJob(db.pool, { tasks: 2 });
    const [t1, t2] = await pendingTaskIds(db.pool, job);
    await commitPlan(db.pool, [{ taskId: t1!, machineId: m.id, version: m.version }]);
    let out = await commitPlan(db.pool, [{ taskId: t1!, machineId: m.id, version: m.version }]);
    expect(out[0]?.reason).toBe("task_not_pending");
    await db.pool.query("select omega.cancel_job($1)", [job]);
    out = await commitPlan(db.pool, [{ taskId: t2!, machineId: m.id, version: m.version }]);
    expect(out[0]?.reason).toBe("task_not_pending");
    const { rows } = await db.pool.query("select count(*)::int as n from omega.claims");
    expect(rows[0].n).toBe(0);
  });

  it("re-checks selector, tolerations and maxPerMachine", async () => {
    const plain = await makeMachine(db.pool, { name: "plain", labels: { zone: "a" } });
    const tainted = await makeMachine(db.pool, {
      name: "gpu",
      labels: { zone: "b" },
      taints: [{ key: "dedicated", value: "ml" }],
    });
    const picky = await submitJob(db.pool, { constraints: { selector: { zone: "b" } } });
    const [p1] = await pendingTaskIds(db.pool, picky);
    expect(
      (await commitPlan(db.pool, [{ taskId: p1!, machineId: plain.id, version: plain.version }]))[0]?.reason,
    ).toBe("constraints_not_met");
    expect(
      (await commitPlan(db.pool, [{ taskId: p1!, machineId: tainted.id, version: tainted.version }]))[0]
        ?.reason,
    ).toBe("constraints_not_met");
    const spread = await submitJob(db.pool, {
      tasks: 2,
      constraints: { maxPerMachine: 1 },
      resources: { cpu: 100 },
    });
    const [s1, s2] = await pendingTaskIds(db.pool, spread);
    const out = await commitPlan(db.pool, [
      { taskId: s1!, machineId: plain.id, version: plain.version },
      { taskId: s2!, machineId: plain.id, version: plain.version },
    ]);
    expect(out.map((o) => o.reason)).toEqual([null, "max_per_machine"]);
  });

  it("coarse mode rejects a placement on a machine whose version moved", async () => {
    const m = await makeMachine(db.pool);
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 100 } });
    const [t1, t2] = await pendingTaskIds(db.pool, job);
    await commitPlan(db.pool, [{ taskId: t1!, machineId: m.id, version: m.version }]);
    const coarse = await commitPlan(db.pool, [{ taskId: t2!, machineId: m.id, version: m.version }], {
      conflictMode: "coarse",
    });
    expect(coarse[0]?.reason).toBe("machine_changed");
    const fine = await commitPlan(db.pool, [{ taskId: t2!, machineId: m.id, version: m.version }], {
      conflictMode: "fine",
    });
    expect(fine[0]?.outcome).toBe("committed");
  });

  it("all-or-nothing commits nothing when one placement fails, and gangs stay whole", async () => {
    const m = await makeMachine(db.pool, { cpu: 3000 });
    const job = await submitJob(db.pool, { tasks: 3, resources: { cpu: 1000 } });
    const ids = await pendingTaskIds(db.pool, job);
    const other = await submitJob(db.pool, { tasks: 1, resources: { cpu: 2500 } });
    const [o1] = await pendingTaskIds(db.pool, other);
    const out = await commitPlan(
      db.pool,
      [...ids, o1!].map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
      { transactionMode: "all-or-nothing" },
    );
    expect(out.map((o) => o.reason)).toEqual([
      "plan_aborted",
      "plan_aborted",
      "plan_aborted",
      "insufficient_resources",
    ]);
    const gang = await submitJob(db.pool, { tasks: 4, resources: { cpu: 1000 }, gang: { minAvailable: 4 } });
    const g = await pendingTaskIds(db.pool, gang);
    const gangOut = await commitPlan(
      db.pool,
      g.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    expect(gangOut.every((o) => o.outcome === "rejected")).toBe(true);
    const { rows } = await db.pool.query("select count(*)::int as n from omega.claims");
    expect(rows[0].n).toBe(0);
  });

  it("records every commit for omega.scheduler_stats", async () => {
    const m = await makeMachine(db.pool, { cpu: 1000 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000 } });
    const ids = await pendingTaskIds(db.pool, job);
    await commitPlan(
      db.pool,
      ids.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    const { rows } = await db.pool.query("select * from omega.scheduler_stats where scheduler = 'batch'");
    expect(rows[0]).toMatchObject({
      plans: 1,
      placements_attempted: 2,
      placements_committed: 1,
      conflicts: 1,
      conflict_fraction: 1,
    });
  });
});
