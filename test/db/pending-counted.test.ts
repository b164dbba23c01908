import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { jobSubmitBatch } from "../../src/db/queries/job-submit-batch.ts";
import { foldPendingCounts } from "../../src/db/queries/pending-fold.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  setTenantLimits,
  submitJob,
} from "../support/factories.ts";

// A tenant's waiting tasks are counted as jobs change (0321), not summed at each submission: the
// count must equal the sum over its pending jobs after anything that moves tasks in or out of
// pending, whichever connection did it, and after those connections end and are folded.

let db: TestDatabase;
let machine: { id: number; version: number };
const TENANTS = ["acme", "other"] as const;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  machine = await makeMachine(db.pool, { cpu: 1_000_000, memory: 1_000_000, maxTasks: 100_000 });
  for (const t of TENANTS) {
    await makeTenant(db.pool, t);
    await setTenantLimits(db.pool, { maxPendingTasks: 40 }, t);
  }
});
afterAll(() => db.drop());

/** Per tenant: [counted, summed over its pending jobs]. */
async function counts(): Promise<Record<string, [number, number]>> {
  const { rows } = await db.pool.query<{ name: string; counted: number; summed: number }>(
    `select t.name, omega.tenant_pending_tasks(t.id)::int as counted,
       (select coalesce(sum(j.pending_count), 0) from omega.jobs j where j.tenant_id = t.id and j.state = 'pending')::int as summed
     from omega.tenants t order by t.name`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, [r.counted, r.summed]]));
}

async function expectCounted(): Promise<void> {
  for (const [tenant, [counted, summed]] of Object.entries(await counts())) {
    expect({ tenant, counted }).toEqual({ tenant, counted: summed });
  }
}

async function randomJob(pool: pg.Pool | pg.Client, pick: number): Promise<number | undefined> {
  const { rows } = await pool.query<{ id: number }>(
    "select id from omega.jobs where state in ('pending', 'placed') order by id",
  );
  return rows.length > 0 ? rows[pick % rows.length]?.id : undefined;
}

type Op =
  | { kind: "submit"; tenant: number; tasks: number }
  | { kind: "batch"; tasks: number[] }
  | { kind: "place"; pick: number; n: number }
  | { kind: "cancel"; pick: number }
  | { kind: "return"; pick: number }
  | { kind: "delete"; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("submit" as const),
    tenant: fc.nat(1),
    tasks: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    kind: fc.constant("batch" as const),
    tasks: fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant("place" as const), pick: fc.nat(), n: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("return" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("delete" as const), pick: fc.nat() }),
);

/** One operation on its own connection, which ends afterwards (its count row is left to fold). */
async function run(o: Op): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    switch (o.kind) {
      case "submit":
        await client
          .query("select omega.submit_job($1, $2)", [
            TENANTS[o.tenant],
            { cell: "east", tasks: o.tasks, resources: { cpu: 10, memory: 10 } },
          ])
          .catch((e: { code?: string }) => expect(e.code).toBe("OM429"));
        return;
      case "batch":
        // Some of these pass the tenants' backlog of 40 and are refused: they must count for nothing.
        await jobSubmitBatch(
          client as never,
          o.tasks.map((tasks, i) => ({
            tenant: TENANTS[i % 2] as string,
            spec: { cell: "east", tasks, resources: { cpu: 10, memory: 10 } } as never,
          })),
        ).catch((e: { code?: string }) => expect(e.code).toBe("OM429")); // (a batch of one throws)
        return;
      case "place": {
        const job = await randomJob(client, o.pick);
        if (job === undefined) return;
        const tasks = (await pendingTaskIds(db.pool, job)).slice(0, o.n);
        const { rows } = await client.query<{ version: number }>(
          "select version from omega.machines where id = $1",
          [machine.id],
        );
        await commitPlan(
          client as never,
          tasks.map((taskId) => ({ taskId, machineId: machine.id, version: rows[0]?.version ?? 0 })),
        );
        return;
      }
      case "cancel": {
        const job = await randomJob(client, o.pick);
        if (job !== undefined) await client.query("select omega.cancel_job($1)", [job]);
        return;
      }
      case "return": {
        // Placed tasks back to pending (as a lost machine's are).
        const job = await randomJob(client, o.pick);
        if (job === undefined) return;
        await client.query(
          "select omega.return_to_pending('east', array(select task_id from omega.claims where job_id = $1), 'test')",
          [job],
        );
        return;
      }
      case "delete": {
        const job = await randomJob(client, o.pick);
        if (job === undefined) return;
        // A job holding no claims (a claimed task stays: 0243).
        const { rows } = await client.query("select from omega.claims where job_id = $1", [job]);
        if (rows.length > 0) return;
        await client.query("delete from omega.tasks where job_id = $1", [job]);
        await client.query("delete from omega.jobs where id = $1", [job]);
        return;
      }
    }
  } finally {
    await client.end();
  }
}

it("counts every tenant's pending tasks through submissions, refusals, placements, cancels, returns and deletes", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      // Room for each run's submissions.
      await db.pool.query("select omega.cancel_job(id) from omega.jobs where state = 'pending'");
      for (const o of ops) {
        await run(o);
        await expectCounted();
      }
      // The ended connections' rows fold into row 0, and the count is unchanged.
      await foldPendingCounts(db.pool);
      await expectCounted();
      const { rows } = await db.pool.query<{ n: number }>(
        "select count(*)::int as n from omega.tenant_pending p where p.backend <> 0 and not exists (select from pg_stat_activity a where a.pid = p.backend)",
      );
      expect(rows[0]?.n).toBe(0);
    }),
    { numRuns: 12 },
  );
});

it("a tenant at its limit is refused, and placing its tasks makes room", async () => {
  await db.pool.query("select omega.cancel_job(id) from omega.jobs where state in ('pending', 'placed')");
  const first = await submitJob(db.pool, { tasks: 40, resources: { cpu: 10, memory: 10 } });
  await expect(submitJob(db.pool, { tasks: 1 })).rejects.toMatchObject({ code: "OM429" });
  const tasks = await pendingTaskIds(db.pool, first);
  const { rows } = await db.pool.query<{ version: number }>(
    "select version from omega.machines where id = $1",
    [machine.id],
  );
  await commitPlan(
    db.pool,
    tasks.slice(0, 5).map((taskId) => ({ taskId, machineId: machine.id, version: rows[0]?.version ?? 0 })),
  );
  await expect(submitJob(db.pool, { tasks: 5, resources: { cpu: 10, memory: 10 } })).resolves.toBeGreaterThan(
    0,
  );
  await expect(submitJob(db.pool, { tasks: 1 })).rejects.toMatchObject({ code: "OM429" });
});

it("a truncate of the jobs empties the count, and a deleted tenant's rows go at the next fold", async () => {
  await db.pool.query("truncate omega.claims, omega.claim_ports, omega.tasks, omega.jobs cascade");
  const { rows: empty } = await db.pool.query("select * from omega.tenant_pending");
  expect(empty).toEqual([]);
  await makeTenant(db.pool, "gone");
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query("select omega.submit_job('gone', $1)", [
    { cell: "east", tasks: 3, resources: { cpu: 10, memory: 10 } },
  ]);
  await client.query(
    "delete from omega.tasks; delete from omega.jobs; delete from omega.tenants where name = 'gone'",
  );
  await client.end();
  await foldPendingCounts(db.pool);
  const { rows } = await db.pool.query(
    "select * from omega.tenant_pending where tenant_id not in (select id from omega.tenants)",
  );
  expect(rows).toEqual([]);
});
