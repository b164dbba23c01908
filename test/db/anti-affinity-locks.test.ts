/**
 * Anti-affinity across machines under concurrent commits (0202). Two commits on two machines of one
 * zone — a task labelled app=db, and a task that repels app=db in its zone — each lock only their
 * own machine; before 0202 both verdicts read the state without the other and both committed (the
 * race test caught it). Now the second waits on the zone's lock and then refuses.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  allowAnyPriority,
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

const COMMIT = "select outcome, reason from omega.commit_plan('east', 'batch', $1, $2, $3)";

describe("anti-affinity domain locks", () => {
  let a1: number;
  let a2: number;
  let b1: number;
  beforeEach(async () => {
    await emptyState(db.pool);
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    a1 = (await makeMachine(db.pool, { name: "a1", labels: { zone: "a" } })).id;
    a2 = (await makeMachine(db.pool, { name: "a2", labels: { zone: "a" } })).id;
    b1 = (await makeMachine(db.pool, { name: "b1", labels: { zone: "b" } })).id;
  });

  async function taskOf(spec: Record<string, unknown>): Promise<number> {
    const job = await submitJob(db.pool, { resources: { cpu: 500, memory: 1 }, ...spec });
    return (await pendingTaskIds(db.pool, job))[0] as number;
  }

  /** First commits in an open transaction; the second starts meanwhile. Returns the second's outcome. */
  async function race(first: [number, number], second: [number, number]) {
    const holder = await db.pool.connect();
    try {
      await holder.query("begin");
      const { rows } = await holder.query(COMMIT, [[first[0]], [first[1]], [0]]);
      expect(rows[0].outcome).toBe("committed");
      let settled = false;
      const other = db.pool.query(COMMIT, [[second[0]], [second[1]], [0]]).then((r) => {
        settled = true;
        return r.rows[0];
      });
      await new Promise((r) => setTimeout(r, 300));
      const waited = !settled;
      await holder.query("commit");
      return { waited, outcome: await other };
    } finally {
      holder.release();
    }
  }

  it("a repeller placed while a task it repels commits in its zone waits, then is refused", async () => {
    const labelled = await taskOf({ labels: { app: "db" } });
    const repeller = await taskOf({
      constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] },
    });
    const { waited, outcome } = await race([labelled, a1], [repeller, a2]);
    expect(waited).toBe(true);
    expect(outcome).toEqual({ outcome: "rejected", reason: "job_anti_affinity" });
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("the other way round: a task placed while its repeller commits in the zone waits, then is refused", async () => {
    const repeller = await taskOf({
      constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] },
    });
    const labelled = await taskOf({ labels: { app: "db" } });
    const { waited, outcome } = await race([repeller, a1], [labelled, a2]);
    expect(waited).toBe(true);
    expect(outcome).toEqual({ outcome: "rejected", reason: "job_anti_affinity" });
  });

  it("another zone does not wait", async () => {
    const labelled = await taskOf({ labels: { app: "db" } });
    const repeller = await taskOf({
      constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] },
    });
    const { waited, outcome } = await race([labelled, a1], [repeller, b1]);
    expect(waited).toBe(false);
    expect(outcome).toEqual({ outcome: "committed", reason: null });
  });
});
