import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadVictims } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  allowAnyPriority,
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

/** A 4-core machine filled by `n` one-core tasks of one job at `priority`; returns their task ids. */
async function fill(machine: { id: number; version: number }, priority: number, n = 4, extra = {}) {
  const job = await submitJob(db.pool, { tasks: n, priority, resources: { cpu: 1000, memory: 1 }, ...extra });
  const tasks = await pendingTaskIds(db.pool, job);
  const out = await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: machine.id, version: machine.version })),
  );
  expect(out.every((o) => o.outcome === "committed")).toBe(true);
  return { job, tasks };
}

async function claimsOf(jobId: number): Promise<number> {
  const { rows } = await db.pool.query("select count(*)::int as n from omega.claims where job_id = $1", [
    jobId,
  ]);
  return rows[0].n;
}

describe("preemption in omega.commit_plan", () => {
  let m: { id: number; version: number };
  beforeEach(async () => {
    await emptyState(db.pool);
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    m = await makeMachine(db.pool, { cpu: 4000, memory: 8192 });
  });

  it("evicts lower-priority victims and places the preemptor in the same transaction", async () => {
    const batch = await fill(m, 150);
    const prod = await submitJob(db.pool, { tasks: 1, priority: 300, resources: { cpu: 2000, memory: 1 } });
    const [p] = await pendingTaskIds(db.pool, prod);
    const out = await commitPlan(db.pool, [
      { taskId: p!, machineId: m.id, version: m.version, victims: batch.tasks.slice(0, 2) },
    ]);
    expect(out).toEqual([
      { task_id: p, machine_id: m.id, outcome: "committed", reason: null },
      { task_id: batch.tasks[0], machine_id: m.id, outcome: "evicted", reason: `preempted by task ${p}` },
      { task_id: batch.tasks[1], machine_id: m.id, outcome: "evicted", reason: `preempted by task ${p}` },
    ]);
    const victims = await db.pool.query(
      "select state, reason from omega.tasks where id = any($1) order by id",
      [batch.tasks.slice(0, 2)],
    );
    expect(victims.rows).toEqual([
      { state: "pending", reason: `preempted by job ${prod} (task ${p})` },
      { state: "pending", reason: `preempted by job ${prod} (task ${p})` },
    ]);
    const job = await db.pool.query("select state, pending_count, blocked from omega.jobs where id = $1", [
      batch.job,
    ]);
    expect(job.rows[0]).toEqual({ state: "pending", pending_count: 2, blocked: false });
    const machine = await db.pool.query("select used_cpu, tasks from omega.machines where id = $1", [m.id]);
    expect(machine.rows[0]).toEqual({ used_cpu: 4000, tasks: 3 });
    const plan = await db.pool.query("select evicted from omega.plans order by id desc limit 1");
    expect(plan.rows[0].evicted).toBe(2);
  });

  it.each([
    ["production never evicts production", 250, 300, "victim_not_preemptible"],
    ["equal priority never evicts", 150, 150, "victim_not_preemptible"],
    ["a higher priority is never a victim", 180, 150, "victim_not_preemptible"],
  ])("%s", async (_name, victimPriority, preemptorPriority, reason) => {
    const victim = await fill(m, victimPriority);
    const job = await submitJob(db.pool, {
      tasks: 1,
      priority: preemptorPriority,
      resources: { cpu: 1000, memory: 1 },
    });
    const [p] = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(db.pool, [
      { taskId: p!, machineId: m.id, version: m.version, victims: [victim.tasks[0]!] },
    ]);
    expect(out).toEqual([{ task_id: p, machine_id: m.id, outcome: "rejected", reason }]);
    expect(await claimsOf(victim.job)).toBe(4);
  });

  it("refuses a victim on another machine, and one already gone, evicting nothing", async () => {
    const other = await makeMachine(db.pool, { cpu: 4000, memory: 8192 });
    const there = await fill(other, 100);
    const here = await fill(m, 100);
    await db.pool.query("select omega.release_claims('east', $1)", [[here.tasks[3]]]);
    const job = await submitJob(db.pool, { tasks: 2, priority: 300, resources: { cpu: 2000, memory: 1 } });
    const [p1, p2] = await pendingTaskIds(db.pool, job);
    const out = await commitPlan(db.pool, [
      { taskId: p1!, machineId: m.id, version: m.version, victims: [here.tasks[0]!, there.tasks[0]!] },
      { taskId: p2!, machineId: m.id, version: m.version, victims: [here.tasks[1]!, here.tasks[3]!] },
    ]);
    expect(out.map((o) => o.reason)).toEqual(["victim_invalid", "victim_gone"]);
    expect(await claimsOf(here.job)).toBe(3);
    expect(await claimsOf(there.job)).toBe(4);
  });

  it("gives the victims back when the preemptor is rejected anyway", async () => {
    const victim = await fill(m, 100);
    const job = await submitJob(db.pool, { tasks: 1, priority: 300, resources: { cpu: 3000, memory: 1 } });
    const [p] = await pendingTaskIds(db.pool, job);
    // One victim frees 1 core; the task needs 3.
    const out = await commitPlan(db.pool, [
      { taskId: p!, machineId: m.id, version: m.version, victims: [victim.tasks[0]!] },
    ]);
    expect(out).toEqual([
      { task_id: p, machine_id: m.id, outcome: "rejected", reason: "insufficient_resources" },
    ]);
    expect(await claimsOf(victim.job)).toBe(4);
  });

  it("keeps a gang whole: evicting below minAvailable is refused, evicting all of it is not", async () => {
    const gang = await fill(m, 100, 4, { gang: { minAvailable: 3 } });
    const job = await submitJob(db.pool, { tasks: 4, priority: 300, resources: { cpu: 1000, memory: 1 } });
    const [p1, p2, p3, p4] = await pendingTaskIds(db.pool, job);
    const two = await commitPlan(db.pool, [
      { taskId: p1!, machineId: m.id, version: m.version, victims: [gang.tasks[0]!] },
      { taskId: p2!, machineId: m.id, version: m.version, victims: [gang.tasks[1]!] },
    ]);
    expect(two.map((o) => o.reason)).toEqual(["victim_breaks_gang", "victim_breaks_gang"]);
    expect(await claimsOf(gang.job)).toBe(4);
    // One above the minimum may go.
    const one = await commitPlan(db.pool, [
      { taskId: p1!, machineId: m.id, version: m.version, victims: [gang.tasks[0]!] },
    ]);
    expect(one[0]?.outcome).toBe("committed");
    expect(await claimsOf(gang.job)).toBe(3);
    const rest = await commitPlan(db.pool, [
      { taskId: p2!, machineId: m.id, version: m.version, victims: [gang.tasks[1]!] },
      { taskId: p3!, machineId: m.id, version: m.version, victims: [gang.tasks[2]!] },
      { taskId: p4!, machineId: m.id, version: m.version, victims: [gang.tasks[3]!] },
    ]);
    expect(rest.filter((o) => o.outcome === "committed")).toHaveLength(3);
    expect(await claimsOf(gang.job)).toBe(0);
  });
});

describe("the worker's victims probe (loadVictims, omega.victims_on)", () => {
  it("returns the claims a priority may evict on the machines asked, with a gang job's claims", async () => {
    await emptyState(db.pool);
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    const [a, b, other] = [
      await makeMachine(db.pool, { cpu: 4000, memory: 8192 }),
      await makeMachine(db.pool, { cpu: 4000, memory: 8192 }),
      await makeMachine(db.pool, { cpu: 4000, memory: 8192 }),
    ];
    const batch = await fill(a, 150, 2);
    const gang = await fill(b, 120, 2, { gang: { minAvailable: 2 } });
    const prod = await fill(b, 250, 1);
    const elsewhere = await fill(other, 100, 1);

    const victims = async (priority: number) => {
      const byMachine = await loadVictims(db.pool, "east", [a.id, b.id], priority);
      return [...byMachine.values()].flat().map((v) => [v.taskId, v.gangMin, v.jobClaims]);
    };
    // Strictly lower only; the machine not asked about is not read.
    expect(await victims(150)).toEqual([
      [gang.tasks[0], 2, 2],
      [gang.tasks[1], 2, 2],
    ]);
    expect((await victims(200)).map(([t]) => t).sort()).toEqual([...batch.tasks, ...gang.tasks].sort());
    // Production never evicts production (omega.may_preempt).
    expect((await victims(999)).map(([t]) => t)).not.toContain(prod.tasks[0]);
    expect((await victims(999)).map(([t]) => t)).not.toContain(elsewhere.tasks[0]);
  });
});
