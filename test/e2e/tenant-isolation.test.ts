import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeAgentToken, makeCell, makeTenant, setQuota, setTenantLimits } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

/**
 * One tenant cannot hurt the others (issue 17), with the real processes the attacks needed: agents
 * running the machines, scheduler workers placing and preempting, the lost-machine check watching.
 *   H1: thousands of tiny tasks piled on one machine drowned its agent; its heartbeats stopped, it
 *       was taken down, its tasks moved to the next machine, which fell too.
 *   H2: a tenant held to 2 cpu of batch quota submitted at priority 999 and preempted everyone.
 */

const LOST_AFTER_MS = 3_000;
const MACHINES = ["east-01", "east-02", "east-03"];

let api: Api;
const tokens: Record<string, string> = {};
let processes: OmegaProcess[] = [];

beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  for (const name of ["victim", "flood", "abuser"])
    tokens[name] = (await makeTenant(api.db.pool, name)).token;
  const agentToken = await makeAgentToken(api.db.pool);
  const maintenance = ["--lost-after", `${LOST_AFTER_MS}ms`, "--check-every", "500ms"];
  processes = [
    omega(
      [
        "agent",
        "--simulate",
        "3",
        "--cell",
        "east",
        "--heartbeat",
        "500ms",
        "--poll",
        "300ms",
        "--cpu",
        "64",
        "--memory",
        "256Gi",
      ],
      {
        OMEGA_API_URL: api.url,
        OMEGA_AGENT_TOKEN: agentToken,
      },
    ),
    omega(["worker", "--scheduler", "batch", ...maintenance], { DATABASE_URL: api.db.url }),
    omega(["worker", "--scheduler", "service", ...maintenance], { DATABASE_URL: api.db.url }),
  ];
  await waitFor(
    async () => (await api.db.pool.query("select count(*)::int as n from omega.machines")).rows[0].n === 3,
    30_000,
    "the agents to register their machines",
  );
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await api?.close();
});

const submit = (tenant: string, body: unknown) =>
  api.call("POST", "/v1/jobs", { token: tokens[tenant], body });
const count = async (sql: string, params: unknown[] = []) =>
  (await api.db.pool.query(sql, params)).rows[0].n as number;

it("H2: a tenant cannot buy its way past its quota with a priority it was never given", async () => {
  const victim = await submit("victim", {
    cell: "east",
    tasks: 3,
    resources: { cpu: "60" },
    constraints: { maxPerMachine: 1 },
  });
  expect(victim.status).toBe(201);
  await waitFor(
    async () =>
      (await count("select count(*)::int as n from omega.claims where job_id = $1", [victim.body.id])) === 3,
    30_000,
    "the victim's tasks to be placed",
  );
  await setQuota(api.db.pool, { cpu: "2" }, { tenant: "abuser" });
  const abuse = { cell: "east", tasks: 3, resources: { cpu: "60" }, priority: 999 };
  const refused = await submit("abuser", abuse);
  expect(refused.status).toBe(422);
  expect(refused.body.errors[0].path).toBe("priority");
  // Given production rights, it still needs a production quota in this cell (missing means none).
  await setTenantLimits(api.db.pool, { maxPriority: 999 }, "abuser");
  const noQuota = await submit("abuser", abuse);
  expect(noQuota.status).toBe(422);
  expect(noQuota.body.detail).toMatch(/no production quota/);
  // The workers had every chance to preempt: nothing moved.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(await count("select count(*)::int as n from omega.claims where job_id = $1", [victim.body.id])).toBe(
    3,
  );
  expect(await count("select count(*)::int as n from omega.events where kind = 'preempted'")).toBe(0);
  await api.call("DELETE", `/v1/jobs/${victim.body.id}`, { token: tokens.victim });
});

it("H1: thousands of tiny tasks cannot flood a machine, and no agent falls behind its heartbeat", async () => {
  // Zero requests are refused unless the admin allows them.
  const tiny = { cell: "east", tasks: 1_000, resources: {} };
  expect((await submit("flood", tiny)).status).toBe(422);
  await setTenantLimits(api.db.pool, { minTaskRequest: { cpu: 0 } }, "flood");
  const flood = await submit("flood", tiny);
  expect(flood.status).toBe(201);
  // 110 a machine (the default cap), each started by its agent; the rest wait, saying why.
  await waitFor(
    async () =>
      (await count("select count(*)::int as n from omega.tasks where job_id = $1 and state = 'running'", [
        flood.body.id,
      ])) ===
      3 * 110,
    60_000,
    "330 tasks to run",
  );
  const perMachine = await api.db.pool.query(
    "select machine, tasks from omega.machine_usage order by machine",
  );
  expect(perMachine.rows).toEqual(MACHINES.map((machine) => ({ machine, tasks: 110 })));
  const reasons = await api.call("GET", `/v1/jobs/${flood.body.id}`, { token: tokens.flood });
  expect(reasons.body.pendingReasons[0]).toMatchObject({
    tasks: 670,
    reason: expect.stringMatching(/machine task cap reached/),
  });
  // Three lost-machine timeouts later every machine is still up: no heartbeat was starved.
  await new Promise((resolve) => setTimeout(resolve, 3 * LOST_AFTER_MS));
  expect(await count("select count(*)::int as n from omega.machine_agents where lost_at is not null")).toBe(
    0,
  );
  expect(await count("select count(*)::int as n from omega.events where kind = 'lost'")).toBe(0);
  expect(await count("select count(*)::int as n from omega.machines where state <> 'up'")).toBe(0);
  expect(await invariantViolations(api.db.pool)).toEqual([]);
  // Cancelled, the agents stop every task: a drain of hundreds of reports, batched.
  await api.call("DELETE", `/v1/jobs/${flood.body.id}`, { token: tokens.flood });
  await waitFor(
    async () => (await count("select count(*)::int as n from omega.claims")) === 0,
    30_000,
    "claims to go",
  );
});
