import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobsGet } from "../../src/db/queries/job-get.ts";
import { jobSubmitBatch, type Submission } from "../../src/db/queries/job-submit-batch.ts";
import { type JobSpecInput, jobSpecSchema } from "../../src/domain/job-spec.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant } from "../support/factories.ts";

// An accepted submission is answered from the row its transaction created (0310, freshJobDetail)
// instead of a read-back: the two must not drift. Each spec below is submitted, then read back as
// the API did before, with no scheduler running: the answers must be equal, field by field.
let db: TestDatabase;
let tenantId: number;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeMachine(db.pool, { name: "m1", labels: { zone: "a" } });
  tenantId = (await makeTenant(db.pool)).id;
  await allowAnyPriority(db.pool);
});
afterAll(async () => {
  await db.drop();
});

const base = { cell: "east", tasks: 2, resources: { cpu: 100, memory: 128 } };
const SPECS: Record<string, JobSpecInput> = {
  "the smallest": base,
  named: { ...base, name: "train" },
  "a named priority": { ...base, priority: "production" },
  "a numeric priority and a scheduler": { ...base, priority: 120, scheduler: "service" },
  "quantities as strings": { ...base, resources: { cpu: "1.5", memory: "2Gi", gpu: 1, disk: "10Gi" } },
  constraints: {
    ...base,
    constraints: {
      selector: { zone: "a" },
      affinity: [{ key: "zone", op: "In", values: ["a", "b"] }],
      tolerations: [{ key: "dedicated", value: "ml" }],
      maxPerMachine: 1,
      spreadBy: "zone",
    },
  },
  "a gang": { ...base, tasks: 4, gang: { minAvailable: 3 } },
};

function submission(spec: JobSpecInput, clientToken?: string): Submission {
  return { tenant: "acme", spec: jobSpecSchema.parse(spec), clientToken };
}

async function readBack(id: number) {
  const [job] = await jobsGet(db.pool, [{ id, tenantId }]);
  return job;
}

describe("the answer to a submission, from the row it created", () => {
  it.each(Object.entries(SPECS))("equals the job read back: %s", async (_, spec) => {
    const [result] = await jobSubmitBatch(db.pool, [submission(spec)]);
    if (!result?.ok) throw new Error(`refused: ${JSON.stringify(result)}`);
    expect(result.created).toBe(true);
    expect(result.job).toEqual(await readBack(result.id));
  });

  it("equals it for each job of a batch, a refused one among them", async () => {
    const specs = Object.values(SPECS);
    const batch = specs.map((s) => submission(s));
    batch.splice(2, 0, { ...submission(base), spec: { ...submission(base).spec, cell: "nowhere" } });
    const results = await jobSubmitBatch(db.pool, batch);
    expect(results.map((r) => r.ok)).toEqual(batch.map((s) => s.spec.cell !== "nowhere"));
    for (const r of results) {
      if (!r.ok) continue;
      expect(r.job).toEqual(await readBack(r.id));
    }
  });

  it("is not given for a repeated idempotent submission, whose job may have moved since", async () => {
    const [first] = await jobSubmitBatch(db.pool, [submission(base, "key-1")]);
    const [again] = await jobSubmitBatch(db.pool, [submission(base, "key-1")]);
    expect(first).toMatchObject({ ok: true, created: true });
    expect(first?.ok && first.job).toBeTruthy();
    expect(again).toEqual({ ok: true, id: first?.ok ? first.id : -1, created: false });
  });
});
