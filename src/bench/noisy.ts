import { startApiProcess } from "./api-process.ts";
import { createCell } from "./cell.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { openLoop } from "./open-loop.ts";
import { printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { percentile, round } from "./stats.ts";

export interface NoisyOptions {
  machines: number;
  seconds: number;
  /** The quiet tenant's 1-task submissions per second (open loop). */
  rate: number;
  /** Tasks in each of the noisy tenant's jobs. */
  noisyTasks: number;
  /** The noisy tenant's submissions in flight at once (each loop submits the next when one ends). */
  noisyConcurrency: number;
}

const CELL = "noisy";
/** The target for the quiet tenant's submit p99. */
const P99_TARGET_MS = 50;

type Call = { status: number; ms: number };

/**
 * Scenario `noisy` (issue 17, M1): one tenant submits jobs of `noisyTasks` tasks back to back,
 * `noisyConcurrency` at a time, while a quiet tenant submits 1-task jobs open-loop at `rate`: the
 * quiet tenant's accept latency (due → 201) is what a noisy neighbour costs it. Run twice: once with
 * the noisy tenant's limits at their defaults (its huge jobs are refused at admission), once with
 * the admin having raised them so that it may submit them (the hard case). A real `omega serve`
 * process; no scheduler runs (placement is the latency bench's question), so the noisy tasks pile
 * up as pending rows, as they would in a cell that cannot take them.
 */
export async function runNoisy(options: NoisyOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const rows: Record<string, number | string>[] = [];
  let machine: Awaited<ReturnType<typeof describeMachine>> | undefined;
  try {
    for (const limits of ["default", "raised"] as const) {
      const db = await databases.create(`noisy_${limits}`);
      try {
        machine ??= await describeMachine(db.pool, server.kind);
        if (limits === "default") console.log(machineLine(machine));
        await createCell(db.pool, { name: CELL, machines: options.machines, cpu: 64_000, memory: 262_144 });
        const api = await startApiProcess(db.url);
        try {
          rows.push(await measure(api.url, api.adminToken, limits, options));
        } finally {
          await api.stop();
        }
      } finally {
        await db.drop();
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  printTable(
    `noisy neighbour: 1-task submits at ${options.rate}/s while another tenant submits ${options.noisyTasks.toLocaleString("en-US")}-task jobs, ${options.noisyConcurrency} at a time`,
    rows,
  );
  for (const r of rows) {
    const verdict = (r.quietP99Ms as number) <= P99_TARGET_MS ? "meets" : "misses";
    console.log(
      `noisy limits ${r.noisyLimits}: quiet submit p99 ${r.quietP99Ms} ms ${verdict} the ${P99_TARGET_MS} ms target`,
    );
  }
  if (!machine) throw new Error("no run was measured");
  const file = await writeResults("noisy", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    targetP99Ms: P99_TARGET_MS,
    rows,
  });
  console.log(`wrote ${file}`);
}

async function measure(url: string, admin: string, limits: "default" | "raised", options: NoisyOptions) {
  const quiet = await tenant(url, admin, "quiet");
  const noisy = await tenant(url, admin, "noisy");
  if (limits === "raised") {
    // Older servers have no limits endpoint: their tenants were never limited anyway.
    await call(url, "PUT", "/v1/tenants/noisy/limits", admin, {
      maxTasksPerJob: 100_000,
      maxPendingTasks: 100_000_000,
    });
  }
  const stopAt = performance.now() + options.seconds * 1000;
  const noisyCalls: Call[] = [];
  const noisyLoops = Array.from({ length: options.noisyConcurrency }, async () => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const { status } = await call(url, "POST", "/v1/jobs", noisy, {
        cell: CELL,
        tasks: options.noisyTasks,
        resources: { cpu: 100, memory: 64 },
      });
      noisyCalls.push({ status, ms: performance.now() - t0 });
      // A refused submission comes back at once: pace the retries as a client honouring 429 would.
      if (status !== 201) await new Promise((r) => setTimeout(r, 100));
    }
  });
  // Let the noisy submissions get going before the quiet tenant starts.
  await new Promise((r) => setTimeout(r, 500));
  const quietCalls: Call[] = [];
  const quietSeconds = Math.max(1, options.seconds - 1);
  await openLoop(options.rate, quietSeconds, async (_i, dueAt) => {
    const { status } = await call(url, "POST", "/v1/jobs", quiet, {
      cell: CELL,
      tasks: 1,
      resources: { cpu: 100, memory: 64 },
    });
    quietCalls.push({ status, ms: performance.now() - dueAt });
  });
  await Promise.all(noisyLoops);
  const ok = quietCalls.filter((c) => c.status === 201).map((c) => c.ms);
  const noisyOk = noisyCalls.filter((c) => c.status === 201);
  return {
    noisyLimits: limits,
    quietJobs: ok.length,
    quietFailed: quietCalls.length - ok.length,
    quietP50Ms: round(percentile(ok, 50), 1),
    quietP99Ms: round(percentile(ok, 99), 1),
    quietMaxMs: round(Math.max(0, ...ok), 1),
    noisyAccepted: noisyOk.length,
    noisyRefused: noisyCalls.length - noisyOk.length,
    noisySubmitP50Ms: round(
      percentile(
        noisyOk.map((c) => c.ms),
        50,
      ),
      0,
    ),
  };
}

async function tenant(url: string, admin: string, name: string): Promise<string> {
  const { status, body } = await call(url, "POST", "/v1/tenants", admin, { name });
  if (status !== 201) throw new Error(`creating tenant ${name}: HTTP ${status}`);
  return (body as { token: string }).token;
}

async function call(url: string, method: string, path: string, token: string, body: unknown) {
  try {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as unknown };
  } catch {
    return { status: 0, body: null };
  }
}
