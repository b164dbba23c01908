/**
 * Workflows end to end: HTTP submissions, a real scheduler worker process and simulated agents
 * (processes) that run each task for its runtime and report it — `ok-01` succeeds every task,
 * `bad-01` fails every task. Each job is pinned to one of them by a selector.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeAgentToken, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let api: Api;
let token: string;
let processes: OmegaProcess[] = [];
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "ok-01", cpu: "8", memory: "32Gi", labels: { kind: "ok" } });
  await makeMachine(api.db.pool, { name: "bad-01", cpu: "8", memory: "32Gi", labels: { kind: "bad" } });
  token = (await makeTenant(api.db.pool)).token;
  const agentToken = await makeAgentToken(api.db.pool);
  const agent = (prefix: string, failRate: string) =>
    omega(
      [
        "agent",
        "--simulate",
        "1",
        "--cell",
        "east",
        "--prefix",
        prefix,
        "--fail-rate",
        failRate,
        "--heartbeat",
        "500ms",
        "--poll",
        "100ms",
      ],
      { OMEGA_API_URL: api.url, OMEGA_AGENT_TOKEN: agentToken },
    );
  processes = [
    agent("ok", "0"),
    agent("bad", "1"),
    omega(["worker", "--scheduler", "batch"], { DATABASE_URL: api.db.url }),
  ];
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await api?.close();
});

const on = (kind: "ok" | "bad", extra: Record<string, unknown> = {}) => ({
  tasks: 2,
  resources: { cpu: "100m", memory: "64Mi" },
  constraints: { selector: { kind } },
  runtime: "300ms",
  maxRetries: 0,
  ...extra,
});

async function finished(id: number, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const r = await api.call("GET", `/v1/workflows/${id}`, { token });
      return ["succeeded", "failed", "cancelled"].includes(r.body.state) ? r.body : undefined;
    },
    timeoutMs,
    `workflow ${id} to end`,
  );
}

/** When each job's first task started running, and when the job ended (from its events). */
async function times(jobId: number): Promise<{ firstRunning: Date | null; ended: Date | null }> {
  const { rows } = await api.db.pool.query(
    `select min(at) filter (where kind = 'running' and task_id is not null) as first_running,
            max(at) filter (where task_id is null and kind in ('succeeded', 'failed', 'cancelled')) as ended
     from omega.events where job_id = $1`,
    [jobId],
  );
  return { firstRunning: rows[0].first_running, ended: rows[0].ended };
}

it("runs a diamond A → (B, C) → D in dependency order", async () => {
  const reply = await api.call("POST", "/v1/workflows", {
    token,
    body: {
      name: "diamond",
      cell: "east",
      jobs: {
        a: on("ok"),
        b: on("ok", { dependsOn: [{ job: "a" }] }),
        c: on("ok", { dependsOn: [{ job: "a", condition: "finished" }] }),
        d: on("ok", { dependsOn: [{ job: "b" }, { job: "c" }] }),
      },
    },
  });
  expect(reply.status).toBe(201);
  expect(reply.body.jobs.d.reason).toMatch(/^dependency: waiting for job \d+ to succeed$/);
  const pending = await api.call("GET", `/v1/jobs/${reply.body.jobs.d.id}`, { token });
  expect(pending.body.pendingReasons[0].reason).toMatch(/^dependency: waiting for job \d+ to succeed$/);
  const done = await finished(reply.body.id);
  expect(done.state).toBe("succeeded");
  const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((s) => times(done.jobs[s].id)));
  for (const [before, after] of [
    [a, b],
    [a, c],
    [b, d],
    [c, d],
  ] as const) {
    expect(after?.firstRunning?.getTime()).toBeGreaterThanOrEqual(before?.ended?.getTime() ?? Infinity);
  }
  expect(await invariantViolations(api.db.pool)).toEqual([]);
}, 90_000);

it("each condition: a failing job runs its `failed` and `finished` dependents and fails its `succeeded` ones, in cascade", async () => {
  const reply = await api.call("POST", "/v1/workflows", {
    token,
    body: {
      name: "conditions",
      cell: "east",
      jobs: {
        flaky: on("bad"),
        cleanup: on("ok", { dependsOn: [{ job: "flaky", condition: "failed" }] }),
        report: on("ok", { dependsOn: [{ job: "flaky", condition: "finished" }] }),
        publish: on("ok", { dependsOn: [{ job: "flaky" }] }),
        announce: on("ok", { dependsOn: [{ job: "publish" }] }),
      },
    },
  });
  expect(reply.status).toBe(201);
  const done = await finished(reply.body.id);
  const state = (s: string) => done.jobs[s].state;
  expect([state("flaky"), state("cleanup"), state("report"), state("publish"), state("announce")]).toEqual([
    "failed",
    "succeeded",
    "succeeded",
    "failed",
    "failed",
  ]);
  const publish = await api.call("GET", `/v1/jobs/${done.jobs.publish.id}`, { token });
  expect(publish.body.reason).toBe("dependency");
  expect(publish.body.taskCounts.failed).toBe(2);
  const events = await api.call("GET", `/v1/jobs/${done.jobs.announce.id}/events`, { token });
  expect(events.body.events.map((e: { kind: string }) => e.kind)).toContain("dependency-failed");
  expect(await invariantViolations(api.db.pool)).toEqual([]);
}, 90_000);

it("cancelling a workflow in the middle cancels what has not finished, and runs nothing after", async () => {
  const reply = await api.call("POST", "/v1/workflows", {
    token,
    body: {
      name: "chain",
      cell: "east",
      jobs: {
        first: on("ok"),
        long: on("ok", { runtime: "5m", dependsOn: [{ job: "first" }] }),
        last: on("ok", { dependsOn: [{ job: "long" }] }),
      },
    },
  });
  const id = reply.body.id;
  await waitFor(
    async () => {
      const r = await api.call("GET", `/v1/workflows/${id}`, { token });
      return r.body.jobs.long.state === "running" ? true : undefined;
    },
    60_000,
    "the middle job to run",
  );
  const cancelled = await api.call("DELETE", `/v1/workflows/${id}`, { token });
  expect(cancelled.body).toEqual({ id, cancelled: 2, state: "cancelled" });
  const after = await api.call("GET", `/v1/workflows/${id}`, { token });
  expect([after.body.jobs.first.state, after.body.jobs.long.state, after.body.jobs.last.state]).toEqual([
    "succeeded",
    "cancelled",
    "cancelled",
  ]);
  const { rows } = await api.db.pool.query(
    "select count(*)::int as n from omega.claims where job_id = any($1)",
    [[after.body.jobs.long.id, after.body.jobs.last.id]],
  );
  expect(rows[0].n).toBe(0);
  expect(await invariantViolations(api.db.pool)).toEqual([]);
}, 90_000);

it("a pre-placed successor holds its machines while its predecessor runs, and starts when it ends", async () => {
  const first = await api.call("POST", "/v1/jobs", {
    token,
    body: { cell: "east", ...on("ok", { runtime: "3s", tasks: 1 }) },
  });
  const next = await api.call("POST", "/v1/jobs", {
    token,
    body: { cell: "east", ...on("ok", { tasks: 2, prePlace: true, dependsOn: [{ job: first.body.id }] }) },
  });
  expect(next.status).toBe(201);
  // Reserved: claims that count in machine usage, while the job stays pending and nothing runs.
  await waitFor(
    async () => {
      const { rows } = await api.db.pool.query(
        "select count(*)::int as n from omega.claims where job_id = $1",
        [next.body.id],
      );
      return rows[0].n === 2 ? true : undefined;
    },
    30_000,
    "the successor's reservations",
  );
  const reserved = await api.call("GET", `/v1/jobs/${next.body.id}`, { token });
  expect(reserved.body.state).toBe("pending");
  // The reservations count in the machine's usage (whether or not the predecessor's own task is
  // placed there yet: its plan may have lost a race for the machine and be retried).
  const usage = await api.db.pool.query(
    `select m.used_cpu, (select sum(c.cpu) from omega.claims c where c.machine_id = m.id and c.job_id = $1) as reserved
     from omega.machines m where m.name = 'ok-01'`,
    [next.body.id],
  );
  expect(Number(usage.rows[0].reserved)).toBe(200);
  expect(Number(usage.rows[0].used_cpu)).toBeGreaterThanOrEqual(200);
  const done = await waitFor(
    async () => {
      const r = await api.call("GET", `/v1/jobs/${next.body.id}`, { token });
      return r.body.state === "succeeded" ? r.body : undefined;
    },
    60_000,
    "the successor to succeed",
  );
  expect(done.dependsOn).toEqual([{ job: first.body.id, condition: "succeeded", state: "met" }]);
  const [a, b] = await Promise.all([times(first.body.id), times(next.body.id)]);
  expect(b.firstRunning?.getTime()).toBeGreaterThanOrEqual(a.ended?.getTime() ?? Infinity);
  const kinds = (await api.call("GET", `/v1/jobs/${next.body.id}/events`, { token })).body.events.map(
    (e: { kind: string }) => e.kind,
  );
  expect(kinds).toContain("reserved");
  expect(kinds.indexOf("dependency-met")).toBeLessThan(kinds.indexOf("running"));
  expect(await invariantViolations(api.db.pool)).toEqual([]);
}, 90_000);

it("another tenant's job id is refused as one that does not exist (422), and nothing is written", async () => {
  const other = await makeTenant(api.db.pool, "other");
  const theirs = await api.call("POST", "/v1/jobs", {
    token: other.token,
    body: { cell: "east", ...on("ok") },
  });
  const body = (job: number) => ({ cell: "east", ...on("ok", { dependsOn: [{ job }] }) });
  const refused = await api.call("POST", "/v1/jobs", { token, body: body(theirs.body.id) });
  const missing = await api.call("POST", "/v1/jobs", { token, body: body(987_654_321) });
  expect(refused.status).toBe(422);
  expect(refused.body.detail.replace(String(theirs.body.id), "N")).toBe(
    missing.body.detail.replace("987654321", "N"),
  );
  const cycle = await api.call("POST", "/v1/workflows", {
    token,
    body: {
      name: "loop",
      cell: "east",
      jobs: { x: on("ok", { dependsOn: [{ job: "y" }] }), y: on("ok", { dependsOn: [{ job: "x" }] }) },
    },
  });
  expect(cycle.status).toBe(422);
  expect(cycle.body.detail).toMatch(/cycle/);
  const unknown = await api.call("GET", "/v1/workflows/987654321", { token });
  expect(unknown.status).toBe(404);
}, 30_000);
