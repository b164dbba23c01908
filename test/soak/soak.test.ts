/**
 * The soak test: the whole system under a stream of short jobs while things break.
 *
 * Runs on a PostgreSQL of its own (embedded, on a free port), so that stopping it cannot disturb
 * other test files. Real processes: one API (`omega serve`), three scheduler workers (two batch, one
 * service), two simulated agent processes of three machines each whose tasks fail 15% of the time.
 * While jobs stream in over HTTP (each with an Idempotency-Key, retried until accepted, some sent
 * twice, some cancelled), the test SIGKILLs a random worker every few seconds and starts another,
 * stops PostgreSQL once and starts it again, and silences one agent process (SIGSTOP) until its
 * machines are taken down, then lets it come back. SPEC's invariants are sampled throughout.
 *
 * At the end, in SQL: each idempotency key made exactly one job; every job reached a final state,
 * and its event log records exactly one final event, last; every task's events replay through the
 * lifecycle to the state it is in; retries stayed within limits; no claim is left, none on a down
 * machine; every invariant held at every sample.
 *
 * OMEGA_SOAK_SECONDS sets how long jobs stream in (Default: 25).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { type EmbeddedDatabase, startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { createPool } from "../../src/db/pool.ts";
import { allowAnyPriority, makeAgentToken, makeCell, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { freePort, type OmegaProcess, omega, waitFor } from "../support/processes.ts";
import { replayStories } from "./stories.ts";

const SECONDS = Number(process.env.OMEGA_SOAK_SECONDS ?? 25);
const ADMIN = "soak-admin-token-0123456789";
const MAINTENANCE = ["--lost-after", "2s", "--check-every", "500ms"];
const QUIET = { LOG_LEVEL: "warn" };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

interface Chaos {
  workerKills: number;
  postgresRestarts: number;
  silencedMachines: number;
  readyzWhileDown: number[];
  submitRetries: number;
  duplicates: number;
  cancels: number;
  samples: number;
}

it(
  `soak: ${SECONDS}s of jobs through worker kills, a PostgreSQL restart and silent machines; nothing lost`,
  async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "omega-soak-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const pgPort = await freePort();
    let pg: EmbeddedDatabase = await startEmbedded(dir, { port: pgPort, quiet: true });
    cleanups.push(() => pg.stop());
    const pool = createPool(pg.url, { max: 4, name: "omega-soak" });
    cleanups.push(() => pool.end());
    await migrate(pool);
    await makeCell(pool, "soak");
    const tenant = (await makeTenant(pool, "acme")).token;
    await allowAnyPriority(pool, "acme", "soak");
    const agentToken = await makeAgentToken(pool, "soak");

    const processes = new Set<OmegaProcess>();
    cleanups.push(() => Promise.all([...processes].map((p) => p.stop("SIGKILL"))));
    const spawn = (args: string[], env: Record<string, string>) => {
      const p = omega(args, { ...QUIET, ...env });
      processes.add(p);
      return p;
    };
    const apiPort = await freePort();
    const base = `http://127.0.0.1:${apiPort}`;
    spawn(["serve", "--port", String(apiPort), "--host", "127.0.0.1"], {
      DATABASE_URL: pg.url,
      OMEGA_ADMIN_TOKEN: ADMIN,
    });
    const startWorker = (scheduler: string) =>
      spawn(["worker", "--scheduler", scheduler, ...MAINTENANCE], { DATABASE_URL: pg.url });
    const workers = ["batch", "batch", "service"].map((scheduler) => ({
      scheduler,
      process: startWorker(scheduler),
    }));
    const agent = (prefix: string) =>
      spawn(
        [
          "agent",
          "--simulate",
          "3",
          "--cell",
          "soak",
          "--prefix",
          prefix,
          "--heartbeat",
          "300ms",
          "--poll",
          "250ms",
        ].concat(["--fail-rate", "0.15", "--cpu", "4", "--memory", "8Gi"]),
        { OMEGA_API_URL: base, OMEGA_AGENT_TOKEN: agentToken },
      );
    const agentA = agent("a");
    agent("b");
    await waitFor(
      async () => (await pool.query("select count(*)::int as n from omega.machine_agents")).rows[0].n === 6,
      60_000,
      "six machines heartbeating",
    );

    const chaos: Chaos = {
      workerKills: 0,
      postgresRestarts: 0,
      silencedMachines: 0,
      readyzWhileDown: [],
      submitRetries: 0,
      duplicates: 0,
      cancels: 0,
      samples: 0,
    };
    const violations: string[] = [];
    const startedAt = Date.now();
    const endAt = startedAt + SECONDS * 1000;
    const giveUpAt = endAt + 120_000;

    // --- the client: a stream of jobs, each retried with its key until accepted -------------------
    const accepted = new Map<string, { id: number; body: unknown }>();
    async function send(method: string, urlPath: string, body?: unknown, key?: string) {
      try {
        const response = await fetch(base + urlPath, {
          method,
          headers: {
            authorization: `Bearer ${tenant}`,
            ...(body ? { "content-type": "application/json" } : {}),
            ...(key ? { "idempotency-key": key } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(5_000),
        });
        const text = await response.text();
        if (response.status >= 500) return undefined; // the database is away: try again
        if (response.status >= 300) throw new Error(`${method} ${urlPath}: ${response.status} ${text}`);
        return JSON.parse(text);
      } catch (error) {
        if ((error as Error).message.startsWith(method)) throw error;
        return undefined; // no answer (the request may or may not have been applied)
      }
    }
    async function untilAnswered(method: string, urlPath: string, body?: unknown, key?: string) {
      for (;;) {
        const reply = await send(method, urlPath, body, key);
        if (reply !== undefined) return reply;
        if (Date.now() > giveUpAt) throw new Error(`${method} ${urlPath} never answered`);
        chaos.submitRetries++;
        await sleep(200);
      }
    }
    async function submitOne(): Promise<void> {
      const key = randomUUID();
      const production = Math.random() < 0.3;
      const body = {
        cell: "soak",
        tasks: 1 + Math.floor(Math.random() * 3),
        priority: production ? "production" : "batch",
        resources: { cpu: pick(["250m", "500m", "1"]), memory: "256Mi" },
        runtime: { min: "200ms", max: "1500ms" },
        maxRetries: Math.floor(Math.random() * 3),
        ...(production ? { constraints: { spreadBy: "zone" } } : {}),
      };
      const job = await untilAnswered("POST", "/v1/jobs", body, key);
      accepted.set(key, { id: job.id, body });
    }
    async function clientStream(): Promise<void> {
      const inFlight = new Set<Promise<void>>();
      while (Date.now() < endAt) {
        const roll = Math.random();
        const known = [...accepted.entries()];
        let work: Promise<void>;
        if (roll < 0.1 && known.length > 0) {
          // A client that timed out sends the same request again: the same job answers.
          const [key, { id, body }] = pick(known);
          work = untilAnswered("POST", "/v1/jobs", body, key).then((job) => {
            expect(job.id).toBe(id);
            chaos.duplicates++;
          });
        } else if (roll < 0.15 && known.length > 0) {
          const [, { id }] = pick(known);
          work = untilAnswered("DELETE", `/v1/jobs/${id}`).then(() => {
            chaos.cancels++;
          });
        } else {
          work = submitOne();
        }
        inFlight.add(work);
        void work.finally(() => inFlight.delete(work)).catch(() => {});
        if (inFlight.size >= 6) await Promise.race(inFlight);
        await sleep(100);
      }
      await Promise.all(inFlight);
    }

    // --- the chaos ----------------------------------------------------------------------------------
    async function killWorkers(): Promise<void> {
      while (Date.now() < endAt) {
        await sleep(2_000 + Math.random() * 2_000);
        const victim = pick(workers);
        victim.process.child.kill("SIGKILL");
        await victim.process.exited;
        processes.delete(victim.process);
        victim.process = startWorker(victim.scheduler);
        chaos.workerKills++;
      }
    }
    async function restartPostgres(): Promise<void> {
      await sleep(SECONDS * 350);
      await pg.stop();
      chaos.postgresRestarts++;
      // The API stays up, says it is not ready, and refuses work with a 503 rather than hanging.
      for (let i = 0; i < 3; i++) {
        chaos.readyzWhileDown.push((await fetch(`${base}/readyz`).catch(() => ({ status: 0 }))).status);
        await sleep(500);
      }
      await sleep(500);
      pg = await startEmbedded(dir, { port: pgPort, quiet: true });
      await waitFor(
        async () => (await fetch(`${base}/readyz`)).status === 200,
        60_000,
        "/readyz after the restart",
      );
    }
    async function silenceMachines(): Promise<void> {
      await sleep(SECONDS * 600);
      agentA.child.kill("SIGSTOP");
      try {
        await waitFor(
          async () => {
            const { rows } = await pool.query(
              "select count(*)::int as n from omega.machines where name like 'a-%' and state = 'down'",
            );
            return rows[0].n === 3;
          },
          30_000,
          "the silent machines to be taken down",
        );
        chaos.silencedMachines = 3;
        await sleep(1_000);
      } finally {
        agentA.child.kill("SIGCONT");
      }
    }
    async function sampleInvariants(): Promise<void> {
      while (Date.now() < endAt) {
        await sleep(1_500);
        const found = await invariantViolations(pool).catch(() => undefined); // undefined: database away
        if (found) {
          chaos.samples++;
          violations.push(...found.map((v) => `${v.invariant}: ${JSON.stringify(v.row)}`));
        }
      }
    }

    await Promise.all([
      clientStream(),
      killWorkers(),
      restartPostgres(),
      silenceMachines(),
      sampleInvariants(),
    ]);

    // --- everything settles -----------------------------------------------------------------------
    const unfinished = async () =>
      (
        await pool.query(
          "select count(*)::int as n from omega.jobs where state not in ('succeeded', 'failed', 'cancelled')",
        )
      ).rows[0].n as number;
    await waitFor(async () => (await unfinished()) === 0, 120_000, "every job to finish").catch(
      async (error) => {
        const { rows } = await pool.query(`
          select json_build_object(
            'tasks', (select json_agg(t) from (select job_id, id, state, reason from omega.tasks
                      where state in ('pending', 'placed', 'running') limit 10) t),
            'jobs', (select json_agg(j) from (select id, state, blocked, lease_owner, lease_expires, scheduler
                     from omega.jobs where state not in ('succeeded', 'failed', 'cancelled') limit 10) j),
            'queue', (select json_agg(q) from (select task_identifier, key, run_at, attempts, locked_at, locked_by,
                      last_error from graphile_worker.jobs) q),
            'machines', (select json_agg(m) from (select name, state, used_cpu, tasks from omega.machines) m)) as state`);
        const logs = [...processes].map((p) => p.output().slice(-3000)).join("\n---\n");
        throw new Error(
          `${error.message}; ${await unfinished()} unfinished: ${JSON.stringify(rows[0].state)}\n${logs}`,
        );
      },
    );

    // Each key made exactly one job, the one every answer named.
    const byKey = await pool.query<{ client_token: string; ids: number[] }>(
      "select client_token, array_agg(id::int) as ids from omega.jobs group by client_token",
    );
    expect(byKey.rows.length).toBe(accepted.size);
    for (const row of byKey.rows) expect(row.ids).toEqual([accepted.get(row.client_token)?.id]);

    // Every invariant held at every sample, and holds now; nothing is claimed any more, nowhere down.
    expect(violations).toEqual([]);
    expect(await invariantViolations(pool)).toEqual([]);
    const leftovers = await pool.query(`
    select (select count(*)::int from omega.claims) as claims,
           (select count(*)::int from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
            where m.state = 'down') as claims_on_down,
           (select count(*)::int from omega.machines where state <> 'up') as not_up,
           (select coalesce(sum(used_cpu), 0)::int from omega.machines) as used_cpu`);
    expect(leftovers.rows[0]).toEqual({ claims: 0, claims_on_down: 0, not_up: 0, used_cpu: 0 });

    // The event log tells each job's story.
    const stories = await replayStories(pool);
    expect(stories.problems).toEqual([]);
    const sample = [...accepted.values()][0]?.id;
    const overHttp = await untilAnswered("GET", `/v1/jobs/${sample}/events`);
    expect(overHttp.events.length).toBe(stories.eventsPerJob.get(sample ?? 0));

    // SIGTERM stops every process gracefully: the API answers what is in flight, workers finish their
    // evaluations, agents send what they owe.
    for (const p of processes) expect(await p.stop("SIGTERM"), p.output()).toBe(0);

    // The chaos happened.
    expect(chaos.workerKills).toBeGreaterThan(0);
    expect(chaos.postgresRestarts).toBe(1);
    expect(chaos.readyzWhileDown).toContain(503);
    expect(chaos.silencedMachines).toBe(3);
    expect(stories.kinds.lost ?? 0).toBeGreaterThan(0);
    expect(stories.kinds.retried ?? 0).toBeGreaterThan(0);
    console.log(
      JSON.stringify({
        seconds: SECONDS,
        jobs: accepted.size,
        ...chaos,
        readyzWhileDown: undefined,
        events: stories.kinds,
        finals: stories.finals,
      }),
    );
  },
  (SECONDS + 300) * 1000,
);
