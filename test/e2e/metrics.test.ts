import { execFile } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnWorker, type WorkerProcess } from "../../src/cli/worker-process.ts";
import { type Api, startApi } from "../support/api-client.ts";
import { freePort, waitFor } from "../support/processes.ts";

let api: Api;
let worker: WorkerProcess;
let workerMetrics: string;

beforeAll(async () => {
  api = await startApi();
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  for (const name of ["m1", "m2", "m3"]) {
    await api.call("PUT", `/v1/cells/east/machines/${name}`, {
      body: { resources: { cpu: "4", memory: "8Gi" } },
    });
  }
  const port = await freePort();
  workerMetrics = `http://127.0.0.1:${port}/metrics`;
  worker = spawnWorker(api.db.url, "batch", {
    stdout: "ignore",
    env: { LOG_LEVEL: "warn" },
    args: ["--metrics-port", String(port), "--metrics-host", "127.0.0.1"],
  });
  await worker.ready;
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

/** The exposition text of a metrics endpoint. */
async function scrape(url: string): Promise<{ text: string }> {
  const text = await (await fetch(url)).text();
  return { text };
}

const sum = (text: string, name: string, labels: Record<string, string> = {}) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);

async function promtool(text: string): Promise<string> {
  const child = execFile("promtool", ["check", "metrics"]);
  const output = new Promise<string>((resolve) => {
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    child.on("close", (code) => resolve(code === 0 ? out : `exit ${code}: ${out}`));
  });
  child.stdin?.end(text);
  return output;
}

it("the worker and the API export kube-scheduler-style omega_* families that move with a run, and promtool finds nothing to fault", async () => {
  const tenant = (await api.call("POST", "/v1/tenants", { body: { name: "acme" } })).body.token;
  const beforeWorker = (await scrape(workerMetrics)).text;
  expect(sum(beforeWorker, "omega_schedule_attempts_total", { result: "scheduled" })).toBe(0);

  const ids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const job = await api.call("POST", "/v1/jobs", {
      token: tenant,
      body: { cell: "east", tasks: 2, resources: { cpu: "1" } },
    });
    ids.push(job.body.id);
  }
  // One that fits nowhere: parked, counted as unschedulable, pending with a reason class.
  await api.call("POST", "/v1/jobs", {
    token: tenant,
    body: { cell: "east", tasks: 1, resources: { cpu: "64" } },
  });
  await waitFor(
    async () => (await api.call("GET", "/v1/jobs?state=placed", { token: tenant })).body.jobs.length === 5,
    30_000,
    "the jobs to be placed",
  );

  await waitFor(
    async () =>
      sum((await scrape(workerMetrics)).text, "omega_schedule_attempts_total", { result: "unschedulable" }) >=
      1,
    20_000,
    "the parked job",
  );
  const w = (await scrape(workerMetrics)).text;
  expect(sum(w, "omega_schedule_attempts_total", { scheduler: "batch", result: "scheduled" })).toBe(10);
  expect(sum(w, "omega_commit_duration_seconds_count", { scheduler: "batch" })).toBeGreaterThan(0);
  // Every proposed placement was either committed or rejected (a stale snapshot's, retried).
  expect(sum(w, "omega_plan_size_placements_sum", { scheduler: "batch" })).toBe(
    10 + sum(w, "omega_schedule_attempts_total", { scheduler: "batch", result: "conflict" }),
  );
  expect(sum(w, "omega_schedule_attempts_total", { result: "conflict" })).toBe(
    sum(w, "omega_conflicts_total"),
  );
  expect(sum(w, "omega_evaluation_duration_seconds_count", { result: "ok" })).toBeGreaterThan(0);
  expect(sum(w, "omega_evaluation_phase_seconds_total", { phase: "commit" })).toBeGreaterThan(0);
  for (const family of [
    "omega_conflicts_total",
    "omega_preemption_attempts_total",
    "omega_preemption_victims_total",
    "omega_leases_held",
  ]) {
    expect(w).toContain(`# TYPE ${family} `);
  }

  // The API counts events as its feed reads them: with no stream following, a tenth of a second late.
  await waitFor(
    async () =>
      sum((await scrape(`${api.url}/metrics`)).text, "omega_task_scheduling_duration_seconds_count", {
        cell: "east",
      }) >= 10,
    10_000,
    "the API to count the placements",
  );
  const a = await scrape(`${api.url}/metrics`);
  expect(sum(a.text, "omega_task_scheduling_duration_seconds_count", { cell: "east" })).toBe(10);
  expect(sum(a.text, "omega_events_total", { cell: "east", kind: "submitted" })).toBe(6);
  expect(sum(a.text, "omega_pending_tasks", { cell: "east", reason: "insufficient cpu" })).toBe(1);
  expect(sum(a.text, "omega_machines", { cell: "east", state: "up" })).toBe(3);
  expect(sum(a.text, "omega_cell_used", { cell: "east", resource: "cpu" })).toBe(10_000);
  expect(a.text).toContain("# TYPE omega_queue_jobs gauge");

  for (const text of [w, a.text]) expect(await promtool(text)).toBe("");
});
