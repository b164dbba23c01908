/**
 * A profile's extender end to end: two real worker processes whose profiles name an extender served
 * over HTTP by this test — `ext-strict` (ignorable: false) and `ext-lenient` (ignorable: true), both
 * with a 300 ms timeout. The extender filters (it keeps the machines labelled `pool: ext`), then is
 * slow (1.5 s), answers garbage, and is down (its server closed). A failure leaves the strict
 * profile's jobs unplaced, parked with the reason `extender unavailable` and a warning in the
 * worker's log; the lenient profile plans without it. SQL over the claims says where everything is.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant, submitJob } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import type { OmegaProcess } from "../support/processes.ts";
import { waitFor } from "../support/processes.ts";
import { profilesFile, startWorkers, stopAll } from "../support/race-driver.ts";

type Mode = "filter" | "slow" | "garbage";
let mode: Mode = "filter";
let calls = 0;
let server: Server;
let db: TestDatabase;
let workers: OmegaProcess[] = [];

function serve(port = 0): Promise<number> {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      calls++;
      const answer = (text: string) => res.writeHead(200, { "content-type": "application/json" }).end(text);
      if (mode === "garbage") return answer(JSON.stringify({ machines: "all of them" }));
      const machines = (JSON.parse(body).machines as { name: string; labels: Record<string, string> }[])
        .filter((m) => m.labels.pool === "ext")
        .map((m) => m.name);
      if (mode === "slow") setTimeout(() => answer(JSON.stringify({ machines })), 1_500).unref();
      else answer(JSON.stringify({ machines }));
    });
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  const port = await serve();
  const extender = (ignorable: boolean) => ({
    extends: "batch",
    extender: { url: `http://127.0.0.1:${port}/filter`, timeoutMs: 300, ignorable },
  });
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  await allowAnyPriority(db.pool);
  // Two machines the extender keeps among eight; the jobs prefer the others (preferredAffinity),
  // so a task lands on ext-* only because the extender left nothing else.
  const machines = ["ext-1", "ext-2", ...Array.from({ length: 6 }, (_, i) => `other-${i + 1}`)];
  for (const name of machines)
    await makeMachine(db.pool, {
      name,
      cpu: 8000,
      memory: 16384,
      labels: { pool: name.split("-")[0] ?? "" },
    });
  workers = await startWorkers(
    db.url,
    ["ext-strict", "ext-lenient"],
    await profilesFile({ "ext-strict": extender(false), "ext-lenient": extender(true) }),
  );
}, 120_000);

afterAll(async () => {
  await stopAll(workers);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await db?.drop();
});

const submit = (scheduler: string, tasks = 2) =>
  submitJob(db.pool, {
    scheduler,
    tasks,
    resources: { cpu: 500, memory: 512 },
    constraints: { preferredAffinity: [{ weight: 100, key: "pool", operator: "In", values: ["other"] }] },
  });

async function placedOn(jobId: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `select m.name from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
     where c.job_id = $1 order by m.name`,
    [jobId],
  );
  return rows.map((r) => r.name);
}

const placed = (jobId: number, tasks = 2) =>
  waitFor(async () => (await placedOn(jobId)).length === tasks, 20_000, `job ${jobId} placed`);

/** The job is parked (blocked) with its pending tasks' reason naming the extender, and holds nothing. */
async function parkedForTheExtender(jobId: number): Promise<string> {
  const reason = await waitFor(async () => {
    const { rows } = await db.pool.query<{ blocked: boolean; reason: string | null }>(
      `select j.blocked, (select min(t.reason) from omega.tasks t where t.cell = j.cell and t.job_id = j.id
                          and t.state = 'pending') as reason
       from omega.jobs j where j.id = $1`,
      [jobId],
    );
    const row = rows[0];
    return row?.blocked && row.reason ? row.reason : undefined;
  }, 20_000);
  expect(await placedOn(jobId)).toEqual([]);
  return reason;
}

const logOf = (scheduler: string) =>
  workers[scheduler === "ext-strict" ? 0 : 1]
    ?.output()
    .split("\n")
    .filter((l) => l.includes("extender failed")) ?? [];

describe("extender", () => {
  it("filter: both profiles place only on the machines the extender keeps, against the jobs' preference", async () => {
    mode = "filter";
    const strict = await submit("ext-strict", 4);
    const lenient = await submit("ext-lenient", 4);
    await placed(strict, 4);
    await placed(lenient, 4);
    for (const job of [strict, lenient])
      expect((await placedOn(job)).every((name) => name.startsWith("ext-"))).toBe(true);
    expect(calls).toBeGreaterThanOrEqual(2);
  });

  it("slow past its timeout: ignorable, scheduling goes on without it; not ignorable, the job waits", async () => {
    mode = "slow";
    const lenient = await submit("ext-lenient");
    const strict = await submit("ext-strict");
    await placed(lenient);
    expect(await parkedForTheExtender(strict)).toMatch(/extender unavailable/);
    expect(logOf("ext-strict").some((l) => /not ignorable/.test(l) && /aborted|timeout/i.test(l))).toBe(true);
    expect(logOf("ext-lenient").some((l) => /planning without it/.test(l))).toBe(true);
  });

  it("garbage: the lenient profile plans without it, the strict one places nothing", async () => {
    mode = "garbage";
    const lenient = await submit("ext-lenient");
    const strict = await submit("ext-strict");
    await placed(lenient);
    expect(await parkedForTheExtender(strict)).toMatch(/extender unavailable/);
    expect(logOf("ext-strict").some((l) => /something else than/.test(l))).toBe(true);
  });

  it("down (its server closed): the same, and the log says the connection was refused", async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    const lenient = await submit("ext-lenient");
    const strict = await submit("ext-strict");
    await placed(lenient);
    expect(await parkedForTheExtender(strict)).toMatch(/extender unavailable/);
    expect(logOf("ext-strict").some((l) => /ECONNREFUSED/.test(l))).toBe(true);
    // What the strict profile refused to plan, it never placed; what was placed obeys every rule.
    const { rows } = await db.pool.query<{ scheduler: string; jobs: number; claims: number }>(
      `select j.scheduler, count(distinct j.id)::int as jobs, count(c.task_id)::int as claims
       from omega.jobs j left join omega.claims c on c.cell = j.cell and c.job_id = j.id
       group by j.scheduler order by j.scheduler`,
    );
    expect(rows).toEqual([
      { scheduler: "ext-lenient", jobs: 4, claims: 4 + 2 + 2 + 2 },
      { scheduler: "ext-strict", jobs: 4, claims: 4 },
    ]);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });
});
