import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pool } from "../../src/db/pool.ts";
import { type Api, type CallOptions, expectProblem, startApi } from "../support/api-client.ts";
import {
  commitPlan,
  makeAgentToken,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  rowCounts,
  submitJob,
} from "../support/factories.ts";

let api: Api;
const tokens: Record<string, string> = {};
/** Tasks in every state a report can meet. */
const task: Record<"running" | "placedOnM2" | "succeeded" | "cancelled" | "pending" | "west", number> = {
  running: 0,
  placedOnM2: 0,
  succeeded: 0,
  cancelled: 0,
  pending: 0,
  west: 0,
};

beforeAll(async () => {
  api = await startApi();
  const pool = api.db.pool;
  await makeCell(pool, "east");
  await makeCell(pool, "west");
  const m1 = await makeMachine(pool, { name: "m1" });
  const m2 = await makeMachine(pool, { name: "m2" });
  await makeMachine(pool, { cell: "west", name: "w1" });
  tokens.acme = (await makeTenant(pool, "acme")).token;
  tokens.other = (await makeTenant(pool, "other")).token;
  tokens.east = await makeAgentToken(pool, "east");
  tokens.rotatedAway = await makeAgentToken(pool, "west");
  tokens.west = await makeAgentToken(pool, "west");

  const job = await submitJob(pool, { tasks: 2 });
  [task.running, task.placedOnM2] = (await pendingTaskIds(pool, job)) as [number, number];
  const done = await submitJob(pool);
  [task.succeeded] = (await pendingTaskIds(pool, done)) as [number];
  const gone = await submitJob(pool);
  [task.cancelled] = (await pendingTaskIds(pool, gone)) as [number];
  const waiting = await submitJob(pool);
  [task.pending] = (await pendingTaskIds(pool, waiting)) as [number];
  await commitPlan(pool, [
    { taskId: task.running, machineId: m1.id, version: 0 },
    { taskId: task.placedOnM2, machineId: m2.id, version: 0 },
    { taskId: task.succeeded, machineId: m1.id, version: 0 },
    { taskId: task.cancelled, machineId: m1.id, version: 0 },
  ]);
  await pool.query("select omega.report_task('east', 'm1', $1, 'running')", [task.running]);
  await pool.query("select omega.report_task('east', 'm1', $1, 'succeeded')", [task.succeeded]);
  await pool.query("select omega.cancel_job($1)", [gone]);
  const westJob = await submitJob(pool, { cell: "west" });
  [task.west] = (await pendingTaskIds(pool, westJob)) as [number];
  await pool.query("select omega.heartbeat('east', 'm1')");
});
afterAll(() => api.close());

type Who = keyof typeof tokens | "admin" | "none" | { raw: string };
interface Request {
  method: string;
  path: () => string;
  as: Who;
  options?: Omit<CallOptions, "token">;
}
const req = (method: string, path: () => string, as: Who, options: Request["options"] = {}): Request => ({
  method,
  path,
  as,
  options,
});
const beat = (machine: string, body: unknown = {}, as: Who = "east", cell = "east") =>
  req("POST", () => `/v1/cells/${cell}/machines/${machine}/heartbeat`, as, { body });
const claims = (machine: string, as: Who = "east", cell = "east") =>
  req("GET", () => `/v1/cells/${cell}/machines/${machine}/claims`, as);
const report = (machine: string, id: () => number | string, body: unknown, as: Who = "east") =>
  req("POST", () => `/v1/cells/east/machines/${machine}/tasks/${id()}`, as, { body });

/** [what, status, request, a pattern the detail must match] */
type Case = [string, number, Request, RegExp?];
const cases: Case[] = [
  // Tokens
  ["no token", 401, beat("m1", {}, "none")],
  ["not a bearer token", 401, beat("m1", {}, { raw: "Basic abc" })],
  ["an unknown agent token", 401, beat("m1", {}, { raw: "Bearer omm_not-a-token" })],
  ["a rotated-away agent token", 401, beat("w1", {}, "rotatedAway", "west")],
  ["a tenant token", 403, beat("m1", {}, "acme"), /agent token/],
  ["another cell's agent token", 403, beat("m1", {}, "west"), /this agent token is for cell "west"/],
  ["another cell's agent token on claims", 403, claims("m1", "west")],
  ["an agent token on a tenant endpoint", 403, req("GET", () => "/v1/jobs", "east")],
  ["an agent token issuing agent tokens", 403, req("POST", () => "/v1/cells/east/agent-token", "east")],
  ["a tenant issuing agent tokens", 403, req("POST", () => "/v1/cells/east/agent-token", "acme")],
  ["an agent token for an unknown cell", 404, req("POST", () => "/v1/cells/nowhere/agent-token", "admin")],
  [
    "an agent registering a machine elsewhere",
    403,
    req("PUT", () => "/v1/cells/west/machines/x", "east", { body: { resources: {} } }),
  ],
  ["an agent token reading job events", 403, req("GET", () => "/v1/jobs/1/events", "east")],
  // Machines
  ["a heartbeat from an unknown machine", 404, beat("m9"), /machine 'm9' does not exist/],
  ["a heartbeat in an unknown cell", 404, beat("m1", {}, "admin", "nowhere")],
  ["claims of an unknown machine", 404, claims("m9")],
  [
    "claims of an unknown machine, conditionally",
    404,
    { ...claims("m9"), options: { headers: { "if-none-match": '"1.0"' } } },
  ],
  ["running ids that are not ids", 422, beat("m1", { running: ["a"] })],
  ["a running id of 0", 422, beat("m1", { running: [0] })],
  ["an unknown heartbeat field", 422, beat("m1", { load: 1 })],
  ["a heartbeat without a JSON body", 415, req("POST", () => "/v1/cells/east/machines/m1/heartbeat", "east")],
  [
    "a heartbeat that is not JSON",
    415,
    req("POST", () => "/v1/cells/east/machines/m1/heartbeat", "east", { raw: "alive" }),
  ],
  // Reports
  [
    "an unknown task id",
    404,
    report("m1", () => 999_999, { state: "running" }),
    /task 999999 does not exist/,
  ],
  ["a task id that is not a number", 404, report("m1", () => "abc", { state: "running" })],
  ["task id 0", 404, report("m1", () => 0, { state: "running" })],
  [
    "a task of another cell",
    404,
    report("m1", () => task.west, { state: "running" }),
    /does not exist in cell 'east'/,
  ],
  [
    "another machine's task",
    409,
    report("m2", () => task.running, { state: "succeeded" }),
    /placed on machine 'm1', not 'm2'/,
  ],
  [
    "another machine's placed task",
    409,
    report("m1", () => task.placedOnM2, { state: "running" }),
    /placed on machine 'm2'/,
  ],
  [
    "succeeded back to running",
    409,
    report("m1", () => task.succeeded, { state: "running" }),
    /already succeeded; it cannot become running/,
  ],
  [
    "succeeded then failed",
    409,
    report("m1", () => task.succeeded, { state: "failed" }),
    /already succeeded/,
  ],
  ["a cancelled task", 409, report("m1", () => task.cancelled, { state: "running" }), /was cancelled/],
  ["a task that was never placed", 409, report("m1", () => task.pending, { state: "running" }), /is pending/],
  ["a report from an unknown machine", 404, report("m9", () => task.running, { state: "succeeded" })],
  ["a state that cannot be reported", 422, report("m1", () => task.running, { state: "placed" })],
  ["no state", 422, report("m1", () => task.running, { reason: "exit 0" })],
  [
    "a reason over 1000 characters",
    422,
    report("m1", () => task.running, { state: "failed", reason: "x".repeat(1001) }),
  ],
  ["an unknown report field", 422, report("m1", () => task.running, { state: "failed", exitCode: 1 })],
  // Events
  ["another tenant's job events", 404, req("GET", () => "/v1/jobs/1/events", "other")],
  ["events with a bad cursor", 422, req("GET", () => "/v1/jobs/1/events?after=abc", "acme")],
];

function tokenOf(who: Who): string | null {
  if (who === "none") return null;
  if (who === "admin") return undefined as unknown as null;
  if (typeof who === "object") return null;
  return tokens[who] ?? null;
}

/** Everything a refused agent request might have touched. */
async function state(pool: Pool): Promise<unknown> {
  const { rows } = await pool.query(`
    select
      (select json_agg(t order by t.id) from (select id, state, reason, attempts, ran_on from omega.tasks) t) as tasks,
      (select json_agg(c order by c.task_id) from (select task_id, machine_id from omega.claims) c) as claims,
      (select json_agg(j order by j.id) from (select id, state, pending_count, succeeded_count, failed_count,
         started_at, updated_at from omega.jobs) j) as jobs,
      (select json_agg(m order by m.id) from (select id, state, version, used_cpu from omega.machines) m) as machines,
      (select json_agg(a order by a.machine_id) from omega.machine_agents a) as agents,
      (select json_agg(t order by t.cell) from omega.agent_tokens t) as agent_tokens,
      (select json_agg(c order by c.name) from (select name, capacity_epoch from omega.cells) c) as cells`);
  return rows[0];
}

describe("bad agent requests are refused with a problem, and change nothing", () => {
  it.each(cases)("%s → %i", async (_name, status, request, detail) => {
    const before = [await rowCounts(api.db.pool), await state(api.db.pool)];
    const headers = { ...request.options?.headers };
    if (typeof request.as === "object") headers.authorization = request.as.raw;
    const reply = await api.call(request.method, request.path(), {
      ...request.options,
      headers,
      token: tokenOf(request.as),
    });
    expectProblem(reply, status);
    if (detail) expect(reply.body.detail).toMatch(detail);
    expect([await rowCounts(api.db.pool), await state(api.db.pool)]).toEqual(before);
  });

  it("a repeated report (an agent retrying after a timeout) is answered and changes nothing", async () => {
    const before = await state(api.db.pool);
    const reply = await api.call("POST", `/v1/cells/east/machines/m1/tasks/${task.running}`, {
      token: tokens.east,
      body: { state: "running" },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ taskId: task.running, state: "running" });
    expect(await state(api.db.pool)).toEqual(before);
  });
});
