import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  rowCounts,
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
const ids: Record<string, { id: number; version: number }> = {};
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  ids.a1 = await makeMachine(db.pool, { name: "a1", cpu: 4000, memory: 8192, labels: { zone: "a" } });
  ids.b1 = await makeMachine(db.pool, { name: "b1", cpu: 8000, memory: 4096, labels: { zone: "b" } });
  ids.gpu = await makeMachine(db.pool, {
    name: "gpu",
    cpu: 16000,
    memory: 65536,
    gpu: 2,
    labels: { zone: "a", accelerator: "h100" },
    taints: [{ key: "dedicated", value: "ml" }],
  });
  await makeMachine(db.pool, { name: "drained", cpu: 64000, memory: 65536 });
  await db.pool.query("select omega.set_machine_state('east', 'drained', 'draining')");
  // 1 cpu already claimed on a1.
  const job = await submitJob(db.pool, { resources: { cpu: 1000, memory: 1024 } });
  const [task] = await pendingTaskIds(db.pool, job);
  await commitPlan(db.pool, [{ taskId: task as number, machineId: ids.a1.id, version: ids.a1.version }]);
});
afterAll(() => db.drop());

async function fits(resources: unknown, constraints?: unknown): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ machine: string; fits: number }>(
    constraints === undefined
      ? "select * from omega.how_many_fit('east', $1)"
      : "select * from omega.how_many_fit('east', $1, $2)",
    constraints === undefined ? [resources] : [resources, constraints],
  );
  return Object.fromEntries(rows.map((r) => [r.machine, Number(r.fits)]));
}

describe("omega.how_many_fit", () => {
  it("answers per up machine: the least over requested dimensions of free capacity / request", async () => {
    // a1: 3000m / 7168 MiB free → 3; b1: 8 cpu but 4 GiB → 4; gpu: tainted, not tolerated → 0.
    expect(await fits({ cpu: "1", memory: "1Gi" })).toEqual({ a1: 3, b1: 4, gpu: 0 });
    // Quantities as numbers in base units; a dimension not requested does not limit.
    expect(await fits({ memory: 2048 })).toEqual({ a1: 3, b1: 2, gpu: 0 });
  });

  it("honours selector, affinity, tolerations, and maxPerMachine as a per-machine cap", async () => {
    const tolerate = { tolerations: [{ key: "dedicated", operator: "Exists" }] };
    expect(await fits({ cpu: 1000 }, tolerate)).toEqual({ a1: 3, b1: 8, gpu: 16 });
    expect(await fits({ cpu: 1000 }, { ...tolerate, selector: { zone: "a" } })).toEqual({
      a1: 3,
      b1: 0,
      gpu: 16,
    });
    expect(
      await fits({ cpu: 1000 }, { ...tolerate, affinity: [{ key: "accelerator", op: "DoesNotExist" }] }),
    ).toEqual({ a1: 3, b1: 8, gpu: 0 });
    expect(await fits({ cpu: 1000 }, { ...tolerate, maxPerMachine: 5 })).toEqual({ a1: 3, b1: 5, gpu: 5 });
    expect(await fits({ gpu: 1 }, tolerate)).toEqual({ a1: 0, b1: 0, gpu: 2 });
    // A job spec's constraints pass as they are: spreadBy scores, it does not limit.
    expect(await fits({ cpu: 1000 }, { spreadBy: "zone" })).toEqual({ a1: 3, b1: 8, gpu: 0 });
  });

  it("agrees with commit_plan: exactly that many more placements commit, and not one more", async () => {
    const constraints = {
      selector: { zone: "a" },
      tolerations: [{ key: "dedicated", value: "ml" }],
      maxPerMachine: 3,
    };
    const shape = { cpu: "1500m", memory: "3Gi" };
    const before = await fits(shape, constraints);
    // a1: 3000m/1500m = 2, 7168/3072 = 2 → 2; gpu: capped at 3; b1: wrong zone.
    expect(before).toEqual({ a1: 2, b1: 0, gpu: 3 });
    const job = await submitJob(db.pool, { tasks: 8, resources: shape, constraints });
    const tasks = await pendingTaskIds(db.pool, job);
    const plan = Object.entries(before).flatMap(([name, n]) =>
      Array.from({ length: n + 1 }, () => ({ machineId: ids[name]?.id as number, version: 0 })),
    );
    const out = await commitPlan(
      db.pool,
      plan.map((p, i) => ({ ...p, taskId: tasks[i] as number })),
    );
    const committed = (name: string) =>
      out.filter((o, i) => plan[i]?.machineId === ids[name]?.id && o.outcome === "committed").length;
    expect({ a1: committed("a1"), b1: committed("b1"), gpu: committed("gpu") }).toEqual(before);
    // a1 is full; maxPerMachine caps one job, and the question is about a new one: gpu still takes 3.
    expect(await fits(shape, constraints)).toEqual({ a1: 0, b1: 0, gpu: 3 });
    await db.pool.query("select omega.cancel_job($1)", [job]);
  });

  it("refuses what has no answer, with a clear error and nothing changed", async () => {
    const before = await rowCounts(db.pool);
    const cases: [string, unknown[], RegExp][] = [
      ["select * from omega.how_many_fit('nope', '{\"cpu\": 1}')", [], /cell 'nope' does not exist/],
      ["select * from omega.how_many_fit('east', '{}')", [], /at least one of cpu, memory, gpu, disk/],
      [
        "select * from omega.how_many_fit('east', '{\"cpu\": 0}')",
        [],
        /at least one of cpu, memory, gpu, disk/,
      ],
      ["select * from omega.how_many_fit('east', '{\"cpus\": 1}')", [], /unknown resource 'cpus'/],
      ["select * from omega.how_many_fit('east', '{\"cpu\": \"lots\"}')", [], /not a quantity/],
      ["select * from omega.how_many_fit('east', '{\"cpu\": 1}', $1)", [{ gang: 1 }], /unknown field 'gang'/],
      ["select * from omega.how_many_fit('east', '{\"cpu\": 1}', '[]')", [], /constraints: an object/],
      [
        "select * from omega.how_many_fit('east', '{\"cpu\": 1}', $1)",
        [{ affinity: [{ key: "zone", op: "Near" }] }],
        /constraints.affinity/,
      ],
      [
        "select * from omega.how_many_fit('east', '{\"cpu\": 1}', $1)",
        [{ maxPerMachine: 0 }],
        /maxPerMachine/,
      ],
    ];
    for (const [sql, params, message] of cases) {
      const error = await db.pool.query(sql, params).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, sql).toMatchObject({
        code: expect.stringMatching(/^OM4(04|22)$/),
        message: expect.stringMatching(message),
      });
    }
    expect(await rowCounts(db.pool)).toEqual(before);
  });
});
