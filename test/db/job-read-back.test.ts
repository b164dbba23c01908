import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobReadBack } from "../../src/api/job-read-back.ts";
import { jobGet } from "../../src/db/queries/job-get.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeTenant, submitJob } from "../support/factories.ts";

/** Accepted submissions are read back together: one statement per turn of the event loop. */

let db: TestDatabase;
let acme: { id: number };
let globex: { id: number };
const jobs: number[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  acme = await makeTenant(db.pool, "acme");
  globex = await makeTenant(db.pool, "globex");
  for (let i = 0; i < 3; i++) jobs.push(await submitJob(db.pool, { tasks: 2 }, "acme"));
});
afterAll(() => db.drop());

describe("JobReadBack", () => {
  it("reads what arrives in one turn in one statement, each job as jobGet shows it to its tenant", async () => {
    const statements: string[] = [];
    const counting = new Proxy(db.pool, {
      get(target, property, receiver) {
        if (property !== "query") return Reflect.get(target, property, receiver);
        return (query: { name?: string }, ...rest: unknown[]) => {
          statements.push(query.name ?? "unnamed");
          return (target.query as (...args: unknown[]) => unknown)(query, ...rest);
        };
      },
    });
    const readBack = new JobReadBack(counting);
    const read = await Promise.all([
      ...jobs.map((id) => readBack.read(id, acme.id)),
      // Another tenant's job is not theirs to read, even beside its owner's read of it.
      readBack.read(jobs[0] as number, globex.id),
      readBack.read(999_999, acme.id),
    ]);
    expect(statements).toEqual(["omega.jobs_get"]);
    for (const [i, id] of jobs.entries()) expect(read[i]).toEqual(await jobGet(db.pool, id, acme.id));
    expect(read.slice(jobs.length)).toEqual([undefined, undefined]);
  });

  it("reads again in the next turn, and passes a failure to every read of its statement", async () => {
    const readBack = new JobReadBack(db.pool);
    expect((await readBack.read(jobs[1] as number, acme.id))?.id).toBe(jobs[1]);
    expect((await readBack.read(jobs[2] as number, acme.id))?.id).toBe(jobs[2]);
    const broken = new JobReadBack({
      query: () => Promise.reject(new Error("the database went away")),
    } as unknown as typeof db.pool);
    const reads = [broken.read(jobs[0] as number, acme.id), broken.read(jobs[1] as number, acme.id)];
    for (const r of reads) await expect(r).rejects.toThrow("the database went away");
  });
});
