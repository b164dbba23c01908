import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { AgentClient, ClaimedTask } from "../../src/agent/agent-client.ts";
import { HEARTBEAT_PAGE, REPORT_BATCH, SimulatedMachine } from "../../src/agent/simulated-machine.ts";

/**
 * The agent of a machine running thousands of tasks (issue 17, H1): reports batched, a heartbeat
 * that nothing starves and that carries any number of running tasks, a SIGTERM drain that ends.
 */

const logger = pino({ level: "silent" });
const never = new Promise<never>(() => {});

interface Recorder {
  client: AgentClient;
  heartbeats: number[][];
  batches: number[];
  single: number;
}

/** A fake API: claims `claimed` tasks (no runtime: they run until stopped), records every call. */
function recorder(claimed: number, options: { reportsHang?: boolean } = {}): Recorder {
  const tasks: ClaimedTask[] = Array.from({ length: claimed }, (_, i) => ({
    taskId: i + 1,
    state: "placed",
    runtime: null,
  }));
  const r: Recorder = {
    heartbeats: [],
    batches: [],
    single: 0,
    client: {
      register: async () => {},
      heartbeat: async (_m, running) => {
        r.heartbeats.push(running);
        return { state: "up", cameBack: false, stop: [] };
      },
      claims: async () => ({ claims: { state: "up", tasks }, etag: '"1"' }),
      report: async () => {
        r.single++;
      },
      reportMany: async (_m, reports) => {
        r.batches.push(reports.length);
        if (options.reportsHang) return never;
        return reports.map((x) => ({ taskId: x.task, status: 200, detail: null }));
      },
    },
  };
  return r;
}

const machines: SimulatedMachine[] = [];
afterEach(async () => {
  await Promise.all(machines.splice(0).map((m) => m.stop()));
});

function start(r: Recorder, extra: { drainMs?: number } = {}): SimulatedMachine {
  const m = new SimulatedMachine(
    "m1",
    r.client,
    { heartbeatMs: 50, pollMs: 20, failRate: 0, drainMs: 200, ...extra },
    logger,
  );
  machines.push(m);
  m.start();
  return m;
}

const until = async (check: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe("a simulated machine running thousands of tasks", () => {
  it("reports them in batches, never one call per task", async () => {
    const r = recorder(1_200);
    start(r);
    await until(() => r.batches.reduce((a, b) => a + b, 0) >= 1_200);
    expect(r.batches.slice(0, 3)).toEqual([REPORT_BATCH, REPORT_BATCH, 200]);
    expect(r.single).toBe(0);
  });

  it("sends a running list of any length in heartbeat pages", async () => {
    const r = recorder(12_000);
    start(r);
    // Once every task is started, a heartbeat carries all 12,000 over three pages.
    await until(() => r.heartbeats.some((h) => h.length > 0) && r.heartbeats.flat().length >= 12_000 * 2);
    expect(Math.max(...r.heartbeats.map((h) => h.length))).toBeLessThanOrEqual(HEARTBEAT_PAGE);
    expect(new Set(r.heartbeats.flat()).size).toBe(12_000);
  });

  it("keeps heartbeating while its reports are stuck", async () => {
    const r = recorder(600, { reportsHang: true });
    start(r);
    await until(() => r.batches.length > 0);
    const before = r.heartbeats.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    // heartbeatMs 50: several beats while the report call never returns.
    expect(r.heartbeats.length - before).toBeGreaterThanOrEqual(4);
  });

  it("stops within its drain time even when the API does not answer", async () => {
    const r = recorder(600, { reportsHang: true });
    const m = start(r, { drainMs: 300 });
    await until(() => r.batches.length > 0);
    const t0 = performance.now();
    await m.stop();
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
