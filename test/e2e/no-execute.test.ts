/**
 * NoExecute taints and drains with real processes: a worker, two simulated agents, the API.
 * Tainting a busy machine NoExecute moves the tasks that do not tolerate it at once, those that
 * tolerate it for tolerationSeconds after that, and keeps those that tolerate it for good; a drain
 * then moves those too. Every task runs again elsewhere; nothing is lost; the invariants hold.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeAgentToken, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

const TOLERATION_SECONDS = 4;

let api: Api;
let tenant: string;
let worker: OmegaProcess;
let agents: OmegaProcess[];

beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "a-01", cpu: "8" });
  // Drained until every task runs on a-01.
  await makeMachine(api.db.pool, { name: "b-01", cpu: "8" });
  await api.db.pool.query("select omega.set_machine_state('east', 'b-01', 'draining')");
  tenant = (await makeTenant(api.db.pool)).token;
  const agentToken = await makeAgentToken(api.db.pool);
  agents = ["a", "b"].map((prefix) =>
    omega(
      [
        "agent",
        "--simulate",
        "1",
        "--cell",
        "east",
        "--prefix",
        prefix,
        "--heartbeat",
        "200ms",
        "--poll",
        "200ms",
      ],
      { OMEGA_API_URL: api.url, OMEGA_AGENT_TOKEN: agentToken },
    ),
  );
  worker = omega(["worker", "--scheduler", "batch", "--check-every", "500ms"], { DATABASE_URL: api.db.url });
});
afterAll(async () => {
  await Promise.all([worker, ...agents].map((p) => p?.stop()));
  await api?.close();
});

const where = async (job: number) =>
  (
    await api.db.pool.query<{ machine: string | null; state: string }>(
      `select m.name as machine, t.state from omega.tasks t
       left join omega.claims c on c.cell = t.cell and c.task_id = t.id
       left join omega.machines m on m.cell = c.cell and m.id = c.machine_id
       where t.job_id = $1 order by t.id`,
      [job],
    )
  ).rows;
const allRunningOn = async (job: number, machine: string) =>
  (await where(job)).every((t) => t.machine === machine && t.state === "running");

async function submit(tasks: number, tolerations: unknown[]): Promise<number> {
  const r = await api.call("POST", "/v1/jobs", {
    token: tenant,
    body: { cell: "east", tasks, resources: { cpu: "1" }, constraints: { tolerations } },
  });
  expect(r.status).toBe(201);
  return r.body.id;
}

it("a NoExecute taint moves what does not tolerate it at once, what tolerates it for a while later; a drain moves the rest", async () => {
  const intolerant = await submit(2, []);
  const forAWhile = await submit(1, [
    { key: "maintenance", operator: "Exists", effect: "NoExecute", tolerationSeconds: TOLERATION_SECONDS },
  ]);
  const forGood = await submit(1, [{ key: "maintenance", operator: "Exists" }]);
  const jobs = [intolerant, forAWhile, forGood];
  await waitFor(
    async () => (await Promise.all(jobs.map((j) => allRunningOn(j, "a-01")))).every(Boolean),
    120_000,
    "every task to run on a-01",
  ).catch(async (error) => {
    const state = await Promise.all(jobs.map(where));
    throw new Error(`${error.message}: ${JSON.stringify(state)}\nworker: ${worker.output()}`);
  });
  await api.db.pool.query("select omega.set_machine_state('east', 'b-01', 'up')");

  const tainted = await api.call("PUT", "/v1/cells/east/machines/a-01", {
    body: { resources: { cpu: "8" }, taints: [{ key: "maintenance", value: "kernel", effect: "NoExecute" }] },
  });
  expect(tainted.status).toBe(200);
  const taintedAt = Date.now();
  await waitFor(async () => allRunningOn(intolerant, "b-01"), 60_000, "the intolerant tasks to run on b-01");
  // Still there while its tolerationSeconds run (the intolerant ones left first)...
  const movedAfterMs = Date.now() - taintedAt;
  if (movedAfterMs < TOLERATION_SECONDS * 1000 - 500) {
    expect((await where(forAWhile))[0]?.machine).toBe("a-01");
  }
  // ...then gone, and running elsewhere.
  await waitFor(async () => allRunningOn(forAWhile, "b-01"), 60_000, "the tolerating task to run on b-01");
  expect(await allRunningOn(forGood, "a-01")).toBe(true);

  const events = await api.db.pool.query<{ job_id: string; reason: string }>(
    "select job_id, reason from omega.events where kind = 'returned' order by id",
  );
  expect(
    events.rows
      .filter((e) => e.reason === "taint")
      .map((e) => Number(e.job_id))
      .sort(),
  ).toEqual([intolerant, intolerant, forAWhile].sort());

  // A drain moves what tolerates the taint for good.
  const drained = await api.call("POST", "/v1/cells/east/machines/a-01/drain", { body: { deadline: "1m" } });
  expect(drained.status).toBe(200);
  expect(drained.body.state).toBe("draining");
  await waitFor(async () => allRunningOn(forGood, "b-01"), 60_000, "the last task to run on b-01");
  const drainEvents = await api.db.pool.query(
    "select job_id from omega.events where kind = 'returned' and reason = 'drain'",
  );
  expect(drainEvents.rows.map((e) => Number(e.job_id))).toEqual([forGood]);
  expect(await invariantViolations(api.db.pool)).toEqual([]);
}, 300_000);

it("a drain refuses a deadline that is not a duration, and takes none", async () => {
  const bad = await api.call("POST", "/v1/cells/east/machines/b-01/drain", { body: { deadline: "soon" } });
  expect(bad.status).toBe(422);
  expect(
    (await api.db.pool.query("select state from omega.machines where name = 'b-01'")).rows[0].state,
  ).toBe("up");
});
