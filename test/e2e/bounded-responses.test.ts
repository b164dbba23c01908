import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactedUrl } from "../../src/api/app.ts";
import { startServer } from "../../src/api/server.ts";
import { type Api, startApi } from "../support/api-client.ts";
import {
  allowAnyPriority,
  commitPlan,
  makeCell,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

/** Bounded responses and tenant-neutral answers (issue 17: M2, M3, L1, L5, L8). */

let api: Api;
let acme: string;
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  acme = (await makeTenant(api.db.pool, "acme")).token;
  await makeTenant(api.db.pool, "globex");
  await allowAnyPriority(api.db.pool, "globex");
});
afterAll(() => api?.close());

async function machine(name: string, maxTasks: number) {
  const { rows } = await api.db.pool.query(
    `select id, version from omega.put_machine('east', $1, '{"cpu": 1000000, "memory": 1000000}', '{}', '[]', $2)`,
    [name, maxTasks],
  );
  return rows[0] as { id: number; version: number };
}

/**
 * While `work` runs: the longest the event loop stalled (ms, wall clock: on a loaded machine this
 * includes time the process waited for a core) and the CPU time this process spent (ms: what a
 * request costs the loop whatever else runs; the server is in this process).
 */
async function loopCost(work: () => Promise<unknown>): Promise<{ stallMs: number; cpuMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const cpu = process.cpuUsage();
  await work();
  const used = process.cpuUsage(cpu);
  histogram.disable();
  return { stallMs: histogram.max / 1e6, cpuMs: (used.user + used.system) / 1000 };
}

describe("GET /v1/jobs/:id pages its placements", () => {
  it("a page at a time (?after=&limit=), with counts by state always complete", async () => {
    const m = await machine("big", 3_000);
    const job = await submitJob(api.db.pool, { tasks: 2_600, resources: { cpu: 100, memory: 1 } });
    const tasks = await pendingTaskIds(api.db.pool, job);
    await commitPlan(
      api.db.pool,
      tasks.slice(0, 2_500).map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    const seen: number[] = [];
    let after: number | null = null;
    const sizes: number[] = [];
    do {
      const page = await api.call("GET", `/v1/jobs/${job}${after === null ? "" : `?after=${after}`}`, {
        token: acme,
      });
      expect(page.status).toBe(200);
      expect(page.body.taskCounts).toMatchObject({ placed: 2_500, pending: 100 });
      expect(page.body.pendingReasons).toEqual([{ reason: "waiting for the batch scheduler", tasks: 100 }]);
      sizes.push(page.body.placements.length);
      seen.push(...page.body.placements.map((p: { taskIndex: number }) => p.taskIndex));
      after = page.body.next;
    } while (after !== null);
    expect(sizes).toEqual([1000, 1000, 500]);
    expect(seen).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
    const small = await api.call("GET", `/v1/jobs/${job}?limit=10&after=99`, { token: acme });
    expect(small.body.placements.map((p: { taskIndex: number }) => p.taskIndex)).toEqual(
      Array.from({ length: 10 }, (_, i) => 100 + i),
    );
    expect(small.body.next).toBe(109);
    for (const bad of ["limit=0", "limit=1001", "after=-1", "page=2"]) {
      expect((await api.call("GET", `/v1/jobs/${job}?${bad}`, { token: acme })).status, bad).toBe(422);
    }
  });
});

describe("GET /v1/cells/:cell/machines pages them", () => {
  it("by name, 1,000 at most, with a next cursor", async () => {
    for (const name of ["p-1", "p-2", "p-3"]) await machine(name, 110);
    const names: string[] = [];
    let after: string | null = "p-0";
    let pages = 0;
    do {
      const page = await api.call("GET", `/v1/cells/east/machines?limit=2&after=${after}`, { token: acme });
      names.push(...page.body.machines.map((m: { name: string }) => m.name));
      after = page.body.next;
      pages++;
    } while (after !== null && after < "p-9");
    expect(names.filter((n) => n.startsWith("p-"))).toEqual(["p-1", "p-2", "p-3"]);
    expect(pages).toBe(2);
    expect((await api.call("GET", "/v1/cells/east/machines?limit=1001", { token: acme })).status).toBe(422);
  });
});

/** CPU time of `f` in this process, in ms: the least of three runs. */
function cpuMsOf(f: () => unknown): number {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    f();
    const used = process.cpuUsage(start);
    least = Math.min(least, (used.user + used.system) / 1000);
  }
  return least;
}

describe("a problem document is bounded", () => {
  it("a 1 MiB body of unknown keys: the first 20 errors and a count, answered without stalling the loop", async () => {
    const keys: string[] = [];
    for (let i = 0, size = 0; size < 1_000_000; i++) {
      const entry = `"k${i.toString(36)}":0`;
      keys.push(entry);
      size += entry.length + 1;
    }
    const raw = `{"cell":"east","tasks":1,"resources":{"cpu":100},${keys.join(",")}}`;
    expect(raw.length).toBeLessThan(1_048_576);
    let reply: Awaited<ReturnType<Api["call"]>> | undefined;
    const cost = await loopCost(async () => {
      reply = await api.call("POST", "/v1/jobs", {
        token: acme,
        raw,
        headers: { "content-type": "application/json" },
      });
    });
    expect(reply?.status).toBe(422);
    expect(reply?.body.errors).toHaveLength(20);
    expect(reply?.body.errors[0]).toEqual({ path: "k0", message: "unknown field" });
    expect(reply?.body.errorCount).toBe(keys.length);
    expect(reply?.text.length).toBeLessThan(5_000);
    // Target ~50 ms (issue 17; 1.7 s before): ~25 ms of JSON.parse and one pass over the keys on an
    // idle machine, plus this test's own client sending the 1 MiB. CPU time is what is asserted,
    // with room for a machine shared with other suites: the wall-clock stall also counts the time
    // such a machine kept this process off a core. The bound is in units of this machine's own
    // JSON.parse of the body (machines differ by 2-3x): linear work stays within a few of them, the
    // quadratic error list of issue 17 took about seventy.
    const parseMs = cpuMsOf(() => JSON.parse(raw));
    console.log(
      `1 MiB of unknown keys: ${cost.cpuMs.toFixed(1)} ms of CPU (JSON.parse alone: ${parseMs.toFixed(1)} ms), the event loop stalled at most ${cost.stallMs.toFixed(1)} ms`,
    );
    expect(cost.cpuMs).toBeLessThan(Math.max(300, 15 * parseMs));
  });
});

describe("tenant-neutral, __proto__-safe, secret-free", () => {
  it('refuses a "__proto__" selector key instead of dropping it', async () => {
    const raw =
      '{"cell":"east","tasks":1,"resources":{"cpu":100},"constraints":{"selector":{"__proto__":"x"}}}';
    const r = await api.call("POST", "/v1/jobs", {
      token: acme,
      raw,
      headers: { "content-type": "application/json" },
    });
    expect(r.status).toBe(422);
    expect(r.body.errors).toEqual([{ path: "constraints.selector.__proto__", message: expect.any(String) }]);
  });

  it("a preempted task's reason does not name the other tenant's job, for the tenant", async () => {
    const m = await machine("small", 110);
    await api.db.pool.query("select omega.put_machine('east', 'small', '{\"cpu\": 1000, \"memory\": 1000}')");
    const victimJob = await submitJob(api.db.pool, { tasks: 1, resources: { cpu: 1000, memory: 1 } }, "acme");
    const [victim] = await pendingTaskIds(api.db.pool, victimJob);
    const v = await api.db.pool.query("select version from omega.machines where id = $1", [m.id]);
    await commitPlan(api.db.pool, [
      { taskId: victim as number, machineId: m.id, version: v.rows[0].version },
    ]);
    const prodJob = await submitJob(
      api.db.pool,
      { tasks: 1, priority: 300, resources: { cpu: 1000, memory: 1 } },
      "globex",
    );
    const [preemptor] = await pendingTaskIds(api.db.pool, prodJob);
    const w = await api.db.pool.query("select version from omega.machines where id = $1", [m.id]);
    const out = await commitPlan(api.db.pool, [
      {
        taskId: preemptor as number,
        machineId: m.id,
        version: w.rows[0].version,
        victims: [victim as number],
      },
    ]);
    expect(out.map((o) => o.outcome)).toContain("evicted");
    // What the victim's owner reads names no job of the other tenant (commit_plan now records a
    // neutral reason itself; reasons recorded before, "preempted by job N (task M)", are rewritten).
    const mine = await api.call("GET", `/v1/jobs/${victimJob}`, { token: acme });
    expect(mine.body.pendingReasons).toEqual([{ reason: expect.stringMatching(/^preempted by /), tasks: 1 }]);
    expect(JSON.stringify(mine.body)).not.toMatch(new RegExp(`job ${prodJob}\\b|task ${preemptor}\\b`));
    const events = await api.call("GET", `/v1/jobs/${victimJob}/events`, { token: acme });
    expect(JSON.stringify(events.body)).not.toMatch(new RegExp(`job ${prodJob}\\b|task ${preemptor}\\b`));
    const legacy = await api.db.pool.query(
      "select omega.tenant_reason('preempted by job 228 (task 5)') as a, omega.tenant_reason('preempted by task 7') as b, omega.tenant_reason('exit 1') as c",
    );
    expect(legacy.rows[0]).toEqual({
      a: "preempted by higher-priority work",
      b: "preempted by higher-priority work",
      c: "exit 1",
    });
  });

  it("a job that no worker of its scheduler took for a minute says so (a scheduler name outlives its workers)", async () => {
    await api.db.pool.query(`select omega.register_scheduler('ghost', '{}')`);
    const id = await submitJob(api.db.pool, { scheduler: "ghost", resources: { cpu: 100 } }, "acme");
    const fresh = await api.call("GET", `/v1/jobs/${id}`, { token: acme });
    expect(fresh.body.pendingReasons).toEqual([{ reason: "waiting for the ghost scheduler", tasks: 1 }]);
    await api.db.pool.query(
      "update omega.jobs set created_at = now() - interval '2 minutes', updated_at = now() - interval '2 minutes' where id = $1",
      [id],
    );
    const stale = await api.call("GET", `/v1/jobs/${id}`, { token: acme });
    expect(stale.body.pendingReasons).toEqual([
      {
        reason: expect.stringMatching(
          /^waiting for the ghost scheduler, which has not taken this job in 1\d\d s: is a worker of it running\?$/,
        ),
        tasks: 1,
      },
    ]);
  });

  it("keeps secrets in query strings out of the request log", async () => {
    expect(redactedUrl("/v1/jobs?access_token=s3cr3t&state=pending&api_key=k")).toBe(
      "/v1/jobs?access_token=[redacted]&state=pending&api_key=[redacted]",
    );
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const server = await startServer({
      pool: api.db.pool,
      adminToken: "admin-token-x",
      port: 0,
      host: "127.0.0.1",
      logger,
    });
    try {
      await fetch(`${server.url}/v1/jobs?token=s3cr3t-in-url`, {
        headers: { authorization: "Bearer admin-token-x" },
      });
    } finally {
      await server.close();
    }
    const requestLines = lines.filter((l) => l.includes('"request"'));
    expect(requestLines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).not.toContain("s3cr3t-in-url");
  });
});
