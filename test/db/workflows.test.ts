import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeTenant, rowCounts } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

const small = { tasks: 1, resources: { cpu: 100, memory: 64 } };
const diamond = {
  name: "etl",
  cell: "east",
  jobs: {
    d: { ...small, dependsOn: [{ job: "b" }, { job: "c", condition: "finished" }] },
    b: { ...small, dependsOn: [{ job: "a" }] },
    c: { ...small, dependsOn: [{ job: "a" }] },
    a: small,
  },
};

async function submit(spec: unknown): Promise<number> {
  const { rows } = await db.pool.query("select omega.submit_workflow('acme', $1) as id", [spec]);
  return Number(rows[0].id);
}

async function steps(id: number): Promise<Record<string, { state: string; deps: string[] }>> {
  const { rows } = await db.pool.query(
    "select step, state, depends_on from omega.workflow_jobs where workflow_id = $1",
    [id],
  );
  return Object.fromEntries(
    rows.map((r) => [
      r.step,
      {
        state: r.state,
        deps: r.depends_on.map((d: { step: string; condition: string }) => `${d.step}:${d.condition}`),
      },
    ]),
  );
}

it("creates a diamond in one call, in dependency order, and shows the DAG in omega.workflow_jobs", async () => {
  const id = await submit(diamond);
  expect(await steps(id)).toEqual({
    a: { state: "pending", deps: [] },
    b: { state: "pending", deps: ["a:succeeded"] },
    c: { state: "pending", deps: ["a:succeeded"] },
    d: { state: "pending", deps: ["b:succeeded", "c:finished"] },
  });
  const { rows } = await db.pool.query(
    "select workflow_step, name, waiting_on from omega.jobs where workflow_id = $1 order by id",
    [id],
  );
  expect(rows.map((r) => r.workflow_step)).toEqual(["a", "b", "c", "d"]);
  expect(rows.map((r) => r.waiting_on)).toEqual([0, 1, 1, 2]);
  expect(rows[0].name).toBe("a");
});

it("cancelling a workflow cancels what has not finished, dependents included (cancelled, not failed)", async () => {
  const id = await submit(diamond);
  const n = await db.pool.query("select omega.cancel_workflow($1, 'acme') as n", [id]);
  expect(n.rows[0].n).toBe(4);
  const all = await steps(id);
  expect(Object.values(all).map((s) => s.state)).toEqual([
    "cancelled",
    "cancelled",
    "cancelled",
    "cancelled",
  ]);
  expect(await invariantViolations(db.pool)).toEqual([]);
});

it("refuses cycles, unknown names, self-dependencies and bad job specs, writing nothing", async () => {
  const before = await rowCounts(db.pool);
  const refusal = (spec: unknown) =>
    submit(spec).then(
      () => "accepted",
      (e: Error) => e.message,
    );
  expect(
    await refusal({
      name: "loop",
      cell: "east",
      jobs: {
        a: { ...small, dependsOn: [{ job: "b" }] },
        b: { ...small, dependsOn: [{ job: "a" }] },
        c: small,
      },
    }),
  ).toMatch(/^jobs: a cycle among a, b/);
  expect(
    await refusal({ name: "x", cell: "east", jobs: { a: { ...small, dependsOn: [{ job: "nope" }] } } }),
  ).toBe(`jobs.a.dependsOn[0].job: no job named 'nope' in this workflow`);
  expect(
    await refusal({ name: "x", cell: "east", jobs: { a: { ...small, dependsOn: [{ job: "a" }] } } }),
  ).toMatch(/cannot depend on itself/);
  expect(await refusal({ name: "x", cell: "east", jobs: { a: small, b: { ...small, tasks: 0 } } })).toMatch(
    /^jobs\.b\.tasks:/,
  );
  expect(await refusal({ name: "x", cell: "east", jobs: {} })).toMatch(/^jobs:/);
  expect(await refusal({ name: "x", cell: "nowhere", jobs: { a: small } })).toMatch(/^cell:/);
  expect(await refusal({ name: "x", cell: "east", jobs: { a: small }, extra: 1 })).toMatch(/unknown field/);
  expect(await rowCounts(db.pool)).toEqual(before);
});
