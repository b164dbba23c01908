import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeAgentToken, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

const LOST_AFTER_MS = 2_000;
const CHECK_EVERY_MS = 500;

let api: Api;
let tenant: string;
let worker: OmegaProcess;
let agentA: OmegaProcess;
let agentB: OmegaProcess;

beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "a-01", cpu: "8" });
  // Drained until the job is running on a-01, so that a-01 is where its tasks are.
  await makeMachine(api.db.pool, { name: "b-01", cpu: "8" });
  await api.db.pool.query("select omega.set_machine_state('east', 'b-01', 'draining')");
  tenant = (await makeTenant(api.db.pool)).token;
  const agentToken = await makeAgentToken(api.db.pool);
  const agent = (prefix: string) =>
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
    );
  agentA = agent("a");
  agentB = agent("b");
  worker = omega(
    [
      "worker",
      "--scheduler",
      "batch",
      "--lost-after",
      `${LOST_AFTER_MS}ms`,
      "--check-every",
      `${CHECK_EVERY_MS}ms`,
    ],
    { DATABASE_URL: api.db.url },
  );
});
afterAll(async () => {
  agentA.child.kill("SIGCONT");
  await Promise.all([worker, agentA, agentB].map((p) => p.stop()));
  await api.close();
});

const tasksOn = async (machine: string) =>
  (
    await api.db.pool.query(
      `select t.id, t.state from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
       join omega.tasks t on t.cell = c.cell and t.id = c.task_id where m.name = $1 order by t.id`,
      [machine],
    )
  ).rows;

it("a machine that stops heartbeating is down within the timeout plus one check; its tasks run elsewhere; back, it stops them", async () => {
  const submitted = await api.call("POST", "/v1/jobs", {
    token: tenant,
    body: { cell: "east", tasks: 2, resources: { cpu: "2" } },
  });
  const job = submitted.body.id;
  await waitFor(
    async () => (await tasksOn("a-01")).filter((t) => t.state === "running").length === 2,
    30_000,
    "the tasks to run on a-01",
  );
  await api.db.pool.query("select omega.set_machine_state('east', 'b-01', 'up')");
  // The check has been watching for a whole timeout (it ignores silence it was not there to hear).
  await waitFor(
    async () => {
      const r = await api.db.pool.query(
        "select watching_since <= now() - $1 * interval '1 millisecond' as ready from omega.machine_watch",
        [LOST_AFTER_MS],
      );
      return r.rows[0]?.ready === true;
    },
    30_000,
    "the lost-machine check to be watching",
  );

  agentA.child.kill("SIGSTOP"); // silent, as a machine that lost its network
  await waitFor(
    async () => (await tasksOn("b-01")).filter((t) => t.state === "running").length === 2,
    30_000,
    "the tasks to run on b-01",
  );

  // Measured inside the database: from a-01's last heartbeat to the transaction that took it down
  // and returned its tasks. Allowance for a loaded machine: one second.
  const { rows } = await api.db.pool.query(
    `select (extract(epoch from min(e.at) - a.last_heartbeat) * 1000)::float8 as ms
     from omega.events e, omega.machine_agents a join omega.machines m on m.cell = a.cell and m.id = a.machine_id
     where e.job_id = $1 and e.kind = 'lost' and m.name = 'a-01' group by a.last_heartbeat`,
    [job],
  );
  expect(rows[0].ms).toBeGreaterThanOrEqual(LOST_AFTER_MS);
  expect(rows[0].ms).toBeLessThanOrEqual(LOST_AFTER_MS + CHECK_EVERY_MS + 1_000);
  const machines = await api.call("GET", "/v1/cells/east/machines", { token: tenant });
  expect(machines.body.machines.find((m: { name: string }) => m.name === "a-01")).toMatchObject({
    state: "down",
    tasks: 0,
  });

  agentA.child.kill("SIGCONT"); // the network is back
  await waitFor(
    async () => {
      const r = await api.db.pool.query("select state from omega.machines where name = 'a-01'");
      return r.rows[0].state === "up";
    },
    30_000,
    "a-01 to be up again",
  );
  // Its agent is told that the tasks moved away and stops them: a-01 holds nothing, b-01 runs both,
  // and no late report from a-01 changed anything.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(await tasksOn("a-01")).toEqual([]);
  expect((await tasksOn("b-01")).map((t) => t.state)).toEqual(["running", "running"]);
  const events = await api.call("GET", `/v1/jobs/${job}/events`, { token: tenant });
  const story = events.body.events.map(
    (e: { kind: string; taskIndex: number | null; machine: string | null }) =>
      [e.taskIndex ?? "job", e.kind, e.machine ?? ""].join(" ").trim(),
  );
  for (const index of [0, 1]) {
    expect(story.filter((s: string) => s.startsWith(`${index} `))).toEqual([
      `${index} placed a-01`,
      `${index} running a-01`,
      `${index} lost a-01`,
      `${index} placed b-01`,
      `${index} running b-01`,
    ]);
  }
  expect(await invariantViolations(api.db.pool)).toEqual([]);
});
