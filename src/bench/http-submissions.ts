import http from "node:http";
import type { Pool } from "../db/pool.ts";
import { startApiProcess } from "./api-process.ts";
import { analyzeCell, createCell, UNLIMITED_TENANT } from "./cell.ts";
import { benchDatabases } from "./database.ts";
import { runExperimentSetup } from "./experiment.ts";
import { describeMachine, type MachineInfo, machineLine } from "./machine-info.ts";
import { openLoop } from "./open-loop.ts";
import { progress } from "./progress.ts";
import { startBenchServer } from "./server.ts";
import { startWorkers } from "./workers.ts";

/**
 * The stage of the HTTP scenarios: a fresh database with a cell of `machines` machines of 32 cores
 * and 128 GiB, a real `omega serve`, `workers` real `batch` worker processes and a tenant; `work`
 * gets the database's pool, the API's URL and the tenant's token. Everything is stopped after.
 */
export async function onHttpStage<T>(
  label: string,
  shape: { machines: number; workers: number },
  work: (pool: Pool, apiUrl: string, token: string) => Promise<T>,
): Promise<{ machine: MachineInfo; result: T }> {
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const db = await databases.create(label);
  try {
    const machine = await describeMachine(db.pool, server.kind);
    console.log(machineLine(machine));
    await createCell(db.pool, { name: label, machines: shape.machines, cpu: 32_000, memory: 131_072 });
    await runExperimentSetup(db.pool);
    await analyzeCell(db.pool);
    const api = await startApiProcess(db.url);
    const workers = await startWorkers(db.pool, db.url, { scheduler: "batch", count: shape.workers });
    try {
      const token = await createTenantOverHttp(api.url, api.adminToken, label);
      return { machine, result: await work(db.pool, api.url, token) };
    } finally {
      await workers.stop();
      await api.stop();
    }
  } finally {
    await db.drop();
    await databases.close();
    await server.stop();
  }
}

export interface SubmittedOverHttp {
  /** Ids of the jobs answered 201. */
  ids: number[];
  /** Due time → 201 received, per accepted job, ms. */
  accept: number[];
  /** When each accepted job was due, seconds after the first (same order as `accept`). */
  dueAtS: number[];
  /** Requests answered otherwise (or not at all), by status ("error <code>" for no answer). */
  refused: Record<string, number>;
}

/**
 * Creates a tenant through the API and returns its token. It gets every right and no admission
 * limit to speak of (UNLIMITED_TENANT): the benchmarks measure the scheduler, not a tenant's limits.
 */
export async function createTenantOverHttp(
  apiUrl: string,
  adminToken: string,
  name: string,
): Promise<string> {
  const res = await fetch(`${apiUrl}/v1/tenants`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name, limits: UNLIMITED_TENANT }),
  });
  if (res.status !== 201) throw new Error(`creating the tenant: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/**
 * POSTs `spec(i)` open loop at `rate` jobs/s for `seconds` (no coordinated omission: latency runs
 * from when each request was due), with a progress bar.
 */
export async function submitOverHttp(
  apiUrl: string,
  token: string,
  rate: number,
  seconds: number,
  spec: (i: number) => Record<string, unknown>,
): Promise<SubmittedOverHttp> {
  const result: SubmittedOverHttp = { ids: [], accept: [], dueAtS: [], refused: {} };
  const refuse = (why: string) => {
    result.refused[why] = (result.refused[why] ?? 0) + 1;
  };
  const bar = progress(`${String(rate).padStart(5)} jobs/s`, Math.round(rate * seconds), "jobs accepted");
  // node:http on kept-alive connections rather than fetch: the generator shares the machine's two
  // cores with what it measures, and fetch spent about three times the CPU per request.
  // An idle socket is dropped after 4 s, before the server's keep-alive timeout (Node's 5 s) closes
  // it: a request sent on a socket the server is closing that instant failed with ECONNRESET (one
  // in 12,000 at 200 jobs/s). Clients that read the Keep-Alive header (fetch) do this themselves.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, timeout: 4_000 });
  const url = new URL(`${apiUrl}/v1/jobs`);
  await openLoop(rate, seconds, async (i, dueAt) => {
    try {
      const { status, body } = await post(agent, url, token, JSON.stringify(spec(i)));
      const id = status === 201 ? (JSON.parse(body) as { id?: number }).id : undefined;
      if (id) {
        result.accept.push(performance.now() - dueAt);
        result.dueAtS.push(i / rate);
        result.ids.push(id);
      } else refuse(String(status));
    } catch (error) {
      // No answer: say why (a reset, a refused connection).
      refuse(`error ${(error as { code?: string }).code ?? (error as Error).name}`);
    }
    bar.update(result.ids.length);
  });
  agent.destroy();
  bar.stop();
  return result;
}

/**
 * One POST over `agent`: its status and body. A kept-alive connection the server closed just as it
 * was reused fails with ECONNRESET before the server read anything (Node's documented race): that
 * request is sent once more, on a fresh connection.
 */
async function post(
  agent: http.Agent,
  url: URL,
  token: string,
  body: string,
): Promise<{ status: number; body: string }> {
  try {
    return await postOnce(agent, url, token, body);
  } catch (error) {
    if ((error as { reused?: boolean }).reused !== true) throw error;
    return postOnce(agent, url, token, body);
  }
}

function postOnce(
  agent: http.Agent,
  url: URL,
  token: string,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(Object.assign(error, { reused: req.reusedSocket && error.code === "ECONNRESET" })),
    );
    req.end(body);
  });
}

/** A job placed: submit→placed, and when it was submitted (seconds after the first of its set). */
export interface PlacedJob {
  ms: number;
  submittedAtS: number;
}

/**
 * Per job now placed, the time from its row's creation to the end of the commit that placed its
 * last task (plans.committed_at is that call's start), on the database's clock.
 */
export async function placedLatencies(pool: Pool, ids: readonly number[]): Promise<PlacedJob[]> {
  // Fresh statistics first: planned on the empty tables' estimates, this join took minutes.
  await pool.query("analyze omega.jobs, omega.claims, omega.plans");
  const { rows } = await pool.query<PlacedJob>(
    `select extract(epoch from max(p.committed_at + p.duration_ms * interval '1 ms') - j.created_at)::float8 * 1000 as "ms",
       extract(epoch from j.created_at - min(j.created_at) over ())::float8 as "submittedAtS"
     from omega.jobs j
     join omega.claims c on c.cell = j.cell and c.job_id = j.id
     join omega.plans p on p.cell = c.cell and p.id = c.plan_id
     where j.id = any($1) and j.state = 'placed'
     group by j.id, j.created_at`,
    [ids],
  );
  return rows;
}
