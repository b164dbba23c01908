/**
 * A third-party scheduler written against the SQL surface alone (examples/sql-scheduler.sh: bash
 * and psql) runs beside a built-in worker on one cell: each places its own jobs, through the same
 * omega.commit_plan, and the invariants hold.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let db: TestDatabase;
let script: ChildProcess;
let scriptOutput = "";
let worker: OmegaProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  for (let i = 0; i < 6; i++)
    await makeMachine(db.pool, { cpu: 4000, memory: 8192, labels: { zone: `z${i % 3}` } });
  await makeTenant(db.pool);
  await allowAnyPriority(db.pool);
  script = spawn("bash", ["examples/sql-scheduler.sh"], {
    env: { ...process.env, DATABASE_URL: db.url, CELL: "east", SCHEDULER: "firstfit", IDLE: "0.2" },
  });
  script.stdout?.on("data", (d) => {
    scriptOutput += d;
  });
  script.stderr?.on("data", (d) => {
    scriptOutput += d;
  });
  worker = omega(["worker", "--scheduler", "batch"], { DATABASE_URL: db.url });
}, 60_000);
afterAll(async () => {
  script?.kill("SIGTERM");
  await worker?.stop();
  await db?.drop();
});

async function submit(spec: Record<string, unknown>): Promise<number> {
  const { rows } = await db.pool.query("select omega.submit_job('acme', $1) as id", [
    JSON.stringify({ cell: "east", resources: { cpu: 500, memory: 512 }, ...spec }),
  ]);
  return Number(rows[0].id);
}

it("places its jobs beside the built-in scheduler's, and no rule breaks", async () => {
  await waitFor(async () => scriptOutput.includes("started"), 60_000, "the SQL scheduler to start").catch(
    (error) => {
      throw new Error(`${error.message}: ${scriptOutput}`);
    },
  );
  const ours = [
    await submit({ scheduler: "firstfit", tasks: 8 }),
    await submit({ scheduler: "firstfit", tasks: 4, constraints: { selector: { zone: "z1" } } }),
    // A rule the script does not know: the commit enforces it anyway.
    await submit({ scheduler: "firstfit", tasks: 3, ports: [8080] }),
  ];
  const builtIn = [
    await submit({ scheduler: "batch", tasks: 10 }),
    await submit({ scheduler: "batch", tasks: 5 }),
  ];
  await waitFor(
    async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from omega.jobs where state = 'pending'",
      );
      return rows[0].n === 0;
    },
    180_000,
    "every job to be placed",
  ).catch(async (error) => {
    const { rows } = await db.pool.query(
      "select id, scheduler, state, pending_count from omega.jobs order by id",
    );
    throw new Error(
      `${error.message}: ${JSON.stringify(rows)}\nscript: ${scriptOutput}\nworker: ${worker.output()}`,
    );
  });
  const { rows } = await db.pool.query<{ scheduler: string; n: number }>(
    "select scheduler, count(*)::int as n from omega.claims group by scheduler order by scheduler",
  );
  expect(rows).toEqual([
    { scheduler: "batch", n: 15 },
    { scheduler: "firstfit", n: 15 },
  ]);
  const zones = await db.pool.query(
    "select distinct m.labels ->> 'zone' as zone from omega.claims c join omega.machines m on m.id = c.machine_id where c.job_id = $1",
    [ours[1]],
  );
  expect(zones.rows).toEqual([{ zone: "z1" }]);
  const ported = await db.pool.query(
    "select count(distinct machine_id)::int as n from omega.claims where job_id = $1",
    [ours[2]],
  );
  expect(ported.rows[0].n).toBe(3);
  expect(builtIn.length).toBe(2);
  expect(await invariantViolations(db.pool)).toEqual([]);
}, 300_000);
