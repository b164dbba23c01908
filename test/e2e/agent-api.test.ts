import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import {
  commitPlan,
  makeAgentToken,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
} from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { recordWakeUps, type WakeUpRecorder } from "../support/wake-ups.ts";

let api: Api;
let wakeUps: WakeUpRecorder;
let tenant: string;
let agent: string;
const machines: Record<string, { id: number }> = {};

beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  for (const name of ["m1", "m2", "m3"]) machines[name] = await makeMachine(api.db.pool, { name });
  tenant = (await makeTenant(api.db.pool)).token;
  agent = await makeAgentToken(api.db.pool);
  wakeUps = await recordWakeUps(api.db.pool);
});
afterAll(async () => {
  await wakeUps.stop();
  await api.close();
});

async function submit(spec: Record<string, unknown>): Promise<{ id: number; tasks: number[] }> {
  const reply = await api.call("POST", "/v1/jobs", {
    token: tenant,
    body: { cell: "east", tasks: 1, resources: { cpu: "1" }, ...spec },
  });
  expect(reply.status, reply.text).toBe(201);
  return { id: reply.body.id, tasks: await pendingTaskIds(api.db.pool, reply.body.id) };
}

/** Places tasks directly through commit_plan (no worker processes in this file). */
async function place(tasks: number[], machine: string): Promise<void> {
  const outcomes = await commitPlan(
    api.db.pool,
    tasks.map((taskId) => ({ taskId, machineId: machines[machine]?.id ?? 0, version: 0 })),
  );
  expect(outcomes.map((o) => o.outcome)).toEqual(tasks.map(() => "committed"));
}

const agentCall = (method: string, machine: string, path: string, body?: unknown, headers = {}) =>
  api.call(method, `/v1/cells/east/machines/${machine}${path}`, { token: agent, body, headers });
const reportTask = (machine: string, task: number, state: string, reason?: string) =>
  agentCall("POST", machine, `/tasks/${task}`, reason ? { state, reason } : { state });
const jobState = async (id: number) =>
  (await api.call("GET", `/v1/jobs/${id}`, { token: tenant })).body.state;
const epoch = async () =>
  (await api.db.pool.query("select capacity_epoch from omega.cells where name = 'east'")).rows[0]
    .capacity_epoch;

it("heartbeat, claims with an ETag, running, succeeded: a finished task's claim is released at once and capacity is freed", async () => {
  const job = await submit({ tasks: 2, runtime: { min: "1s", max: "2s" } });
  await place(job.tasks, "m1");

  const beat = await agentCall("POST", "m1", "/heartbeat", {});
  expect(beat.body).toEqual({ cell: "east", machine: "m1", state: "up", cameBack: false, stop: [] });

  const claims = await agentCall("GET", "m1", "/claims");
  expect(claims.status).toBe(200);
  const etag = claims.headers.get("etag") as string;
  expect(etag).toMatch(/^"/);
  expect(claims.body.tasks).toMatchObject(
    job.tasks.map((taskId, taskIndex) => ({
      taskId,
      jobId: job.id,
      taskIndex,
      state: "placed",
      resources: { cpu: 1000, memory: 0, gpu: 0, disk: 0 },
      runtime: { minMs: 1000, maxMs: 2000 },
    })),
  );
  expect((await agentCall("GET", "m1", "/claims", undefined, { "if-none-match": etag })).status).toBe(304);

  const [a, b] = job.tasks as [number, number];
  const running = await reportTask("m1", a, "running");
  expect(running.body).toMatchObject({ taskId: a, state: "running", jobState: "running" });
  // The task changed state: the claims are not what the agent holds any more.
  const changed = await agentCall("GET", "m1", "/claims", undefined, { "if-none-match": etag });
  expect(changed.status).toBe(200);
  expect(changed.body.tasks.map((t: { state: string }) => t.state)).toEqual(["running", "placed"]);

  const before = await epoch();
  const done = await reportTask("m1", a, "succeeded", "exit 0");
  expect(done.body).toMatchObject({ state: "succeeded", jobState: "running", reason: "exit 0" });
  expect(await epoch()).toBeGreaterThan(before);
  const left = await api.db.pool.query("select task_id from omega.claims where job_id = $1", [job.id]);
  expect(left.rows).toEqual([{ task_id: b }]);

  // Straight from placed to succeeded (a task quicker than a poll) is fine too.
  expect((await reportTask("m1", b, "succeeded")).body.jobState).toBe("succeeded");
  const detail = (await api.call("GET", `/v1/jobs/${job.id}`, { token: tenant })).body;
  expect(detail).toMatchObject({ state: "succeeded", pendingTasks: 0, placements: [] });
  expect(detail.taskCounts).toMatchObject({ succeeded: 2, placed: 0, running: 0 });
  expect(await invariantViolations(api.db.pool)).toEqual([]);
});

it("a failed task is retried up to the job's maxRetries, then the job fails", async () => {
  const job = await submit({ maxRetries: 1 });
  const [task] = job.tasks as [number];
  await place([task], "m1");
  await wakeUps.take();
  const first = await reportTask("m1", task, "failed", "exit 3");
  expect(first.body).toMatchObject({
    state: "pending",
    jobState: "pending",
    reason: "retry 1 of 1 after: exit 3",
  });
  // Back to pending, with its scheduler woken by the same transaction.
  expect(await wakeUps.take()).toContain("east batch");
  const pending = await api.call("GET", `/v1/jobs/${job.id}`, { token: tenant });
  expect(pending.body.pendingReasons).toEqual([{ reason: "retry 1 of 1 after: exit 3", tasks: 1 }]);

  await place([task], "m2");
  const second = await reportTask("m2", task, "failed", "OOMKilled");
  expect(second.body).toMatchObject({ state: "failed", jobState: "failed", reason: "OOMKilled" });
  expect(await invariantViolations(api.db.pool)).toEqual([]);
});

it("a draining machine lets its running tasks finish and takes no new ones", async () => {
  const job = await submit({});
  const [task] = job.tasks as [number];
  await place([task], "m2");
  await reportTask("m2", task, "running");
  expect((await api.call("POST", "/v1/cells/east/machines/m2/drain")).body.state).toBe("draining");

  const claims = await agentCall("GET", "m2", "/claims");
  expect(claims.body).toMatchObject({ state: "draining", tasks: [{ taskId: task, state: "running" }] });
  const other = await submit({});
  const refused = await commitPlan(api.db.pool, [
    { taskId: other.tasks[0] as number, machineId: machines.m2?.id ?? 0, version: 0 },
  ]);
  expect(refused[0]?.reason).toBe("machine_not_up");

  expect((await reportTask("m2", task, "succeeded")).body.jobState).toBe("succeeded");
  expect(await jobState(job.id)).toBe("succeeded");
  await api.call("POST", "/v1/cells/east/machines/m2/undrain");
});

it("a machine that comes back after it was lost is up again and told to stop what moved away", async () => {
  const job = await submit({ tasks: 2 });
  const [a, b] = job.tasks as [number, number];
  await place([a, b], "m3");
  await agentCall("POST", "m3", "/heartbeat", { running: [] });
  await reportTask("m3", a, "running");

  // What the lost-machine check does (tested with real workers in lost-machine.test.ts).
  await api.db.pool.query("update omega.machine_agents set last_heartbeat = now() - interval '1 hour'");
  const lost = await api.db.pool.query("select omega.mark_machine_lost('east', $1, '30 seconds') as lost", [
    machines.m3?.id,
  ]);
  expect(lost.rows[0].lost).toBe(true);
  await api.db.pool.query("select omega.return_lost_tasks('east', $1)", [machines.m3?.id]);
  expect(await jobState(job.id)).toBe("pending");
  const events = await api.call("GET", `/v1/jobs/${job.id}/events`, { token: tenant });
  expect(events.body.events).toContainEqual(
    expect.objectContaining({
      kind: "lost",
      taskId: a,
      machine: "m3",
      reason: "lost: machine m3 stopped sending heartbeats",
    }),
  );

  const back = await agentCall("POST", "m3", "/heartbeat", { running: [a] });
  expect(back.body).toMatchObject({ state: "up", cameBack: true, stop: [a] });
  expect((await agentCall("GET", "m3", "/claims")).body.tasks).toEqual([]);
  const late = await reportTask("m3", a, "succeeded");
  expect(late.status).toBe(409);
  expect(late.body.detail).toMatch(/not placed on machine 'm3'.*stop it/);
  expect(await invariantViolations(api.db.pool)).toEqual([]);
});

it("an agent registers its own machine; its token works for its cell only and stops working when rotated", async () => {
  const created = await api.call("PUT", "/v1/cells/east/machines/m9", {
    token: agent,
    body: { resources: { cpu: "2", memory: "4Gi" } },
  });
  expect(created.status).toBe(201);
  await makeCell(api.db.pool, "west");
  const elsewhere = await api.call("POST", "/v1/cells/west/machines/m9/heartbeat", {
    token: agent,
    body: {},
  });
  expect(elsewhere.status).toBe(403);
  expect((await api.call("GET", "/v1/jobs", { token: agent })).status).toBe(403);

  const rotated = await api.call("POST", "/v1/cells/east/agent-token");
  expect(rotated.body).toMatchObject({ cell: "east", token: expect.stringMatching(/^omm_/) });
  expect((await agentCall("POST", "m9", "/heartbeat", {})).status).toBe(401);
  agent = rotated.body.token;
  expect((await agentCall("POST", "m9", "/heartbeat", {})).status).toBe(200);
});
