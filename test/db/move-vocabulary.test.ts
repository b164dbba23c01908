/**
 * A rebalancer's move is a placement like any other (0201): omega.commit_move's probe asks
 * decide_plan_checked, so the placement vocabulary's verdicts hold for moves too. Each case is a
 * move the vocabulary forbids — refused with its reason, nothing moved — beside one it allows.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { moveCommit } from "../../src/db/queries/move-commit.ts";
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
import { invariantViolations } from "../support/invariants.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

type Machine = { id: number; name: string; version: number };
let a: Machine;
let b: Machine;
let c: Machine;

/** Submits a job and places its tasks on the machines given, one task each; returns its task ids. */
async function placedOn(machines: Machine[], spec: Record<string, unknown> = {}): Promise<number[]> {
  const job = await submitJob(db.pool, {
    tasks: machines.length,
    resources: { cpu: 500, memory: 1 },
    ...spec,
  });
  const tasks = await pendingTaskIds(db.pool, job);
  const out = await commitPlan(
    db.pool,
    tasks.map((taskId, i) => ({ taskId, machineId: (machines[i] as Machine).id, version: 0 })),
  );
  expect(out.map((o) => o.outcome)).toEqual(tasks.map(() => "committed"));
  return tasks;
}

const move = (taskId: number, from: Machine, to: Machine) =>
  moveCommit(db.pool, {
    cell: "east",
    scheduler: "rebalance",
    worker: "test",
    move: { taskId, from: from.id, to: to.id, strategy: "test" },
  });

async function machineOf(taskId: number): Promise<number> {
  const { rows } = await db.pool.query("select machine_id from omega.claims where task_id = $1", [taskId]);
  return Number(rows[0]?.machine_id);
}

const repels = (topologyKey: string) => ({
  constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey }] },
});

describe("omega.commit_move and the placement vocabulary", () => {
  beforeEach(async () => {
    await emptyState(db.pool);
    await db.pool.query("truncate omega.moves, omega.events");
    await db.pool.query(
      "update omega.schedulers set profile = '{\"kind\": \"rebalance\"}' where name = 'rebalance'",
    );
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    a = await makeMachine(db.pool, { name: "a", cpu: 8000, labels: { zone: "x" } });
    b = await makeMachine(db.pool, { name: "b", cpu: 8000, labels: { zone: "y" } });
    c = await makeMachine(db.pool, { name: "c", cpu: 8000, labels: { zone: "x" } });
  });

  it("never onto a NoSchedule-tainted machine the task does not tolerate", async () => {
    const [t] = (await placedOn([a])) as [number];
    await db.pool.query(
      `select omega.put_machine('east', 'b', '{"cpu": 8000, "memory": 8192}', '{"zone": "y"}',
         '[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]', null)`,
    );
    expect(await move(t, a, b)).toMatchObject({ outcome: "rejected", reason: "constraints_not_met" });
    expect(await machineOf(t)).toBe(a.id);
  });

  it("never beside a job it repels", async () => {
    await placedOn([b], { labels: { app: "db" } });
    const [repeller] = (await placedOn([a], repels("machine"))) as [number];
    expect(await move(repeller, a, b)).toMatchObject({ outcome: "rejected", reason: "job_anti_affinity" });
    expect(await move(repeller, a, c)).toMatchObject({ outcome: "moved" });
  });

  it("never beside a job that repels it (the other direction), in the repeller's topology", async () => {
    const [labelled] = (await placedOn([a], { labels: { app: "db" } })) as [number];
    await placedOn([b], repels("zone"));
    expect(await move(labelled, a, b)).toMatchObject({ outcome: "rejected", reason: "job_anti_affinity" });
    expect(await machineOf(labelled)).toBe(a.id);
    // c shares zone x with a, and no repeller holds a claim there.
    expect(await move(labelled, a, c)).toMatchObject({ outcome: "moved" });
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("never onto a machine where another claim holds its host port; its own port moves with it", async () => {
    await placedOn([b], { ports: [8080] });
    const [t] = (await placedOn([a], { ports: [8080] })) as [number];
    expect(await move(t, a, b)).toMatchObject({ outcome: "rejected", reason: "port_conflict" });
    expect(await move(t, a, c)).toMatchObject({ outcome: "moved" });
    const { rows } = await db.pool.query("select machine_id from omega.claim_ports where task_id = $1", [t]);
    expect(rows.map((r) => Number(r.machine_id))).toEqual([c.id]);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("never past a DoNotSchedule topology spread", async () => {
    const spread = { constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } };
    const [inX, inY] = (await placedOn([a, b], spread)) as [number, number];
    // Zone x would hold both and zone y none: a skew of 2.
    expect(await move(inY, b, c)).toMatchObject({ outcome: "rejected", reason: "topology_spread" });
    // Within zone x, the counts stay as they are.
    expect(await move(inX, a, c)).toMatchObject({ outcome: "moved" });
  });
});
