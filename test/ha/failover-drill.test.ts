/**
 * The failover drill: a real pg_auto_failover formation (monitor, primary, one synchronous standby)
 * under the whole product — `omega serve`, two `omega worker`s and a simulated agent process, all on
 * the multi-host connection string `postgres://…@primary,standby/postgres?target_session_attrs=
 * read-write` — while a client streams jobs with Idempotency-Keys. Mid-stream the primary's machine
 * is lost: its keeper is SIGKILLed and its PostgreSQL stopped with `pg_ctl -m immediate stop`.
 *
 * Asserts: the standby is promoted; /readyz says 503 (naming the missing primary) while there is
 * none and 200 after; the workers' LISTENs (graphile-worker's queue and omega_wake) come back on
 * the new primary; every job acknowledged before the kill exists afterwards with the id it was
 * acknowledged with (synchronous replication: nothing acknowledged is lost), and every key made
 * exactly one job; every job reaches a final state with exactly one final event; the invariants
 * hold, sampled throughout and at the end. Reports the RTO: kill → first placement committed on the
 * new primary (and kill → promotion, kill → /readyz 200).
 *
 * Runs on its own (`npm run test:ha`): it needs pg_auto_failover (`postgresql-15-auto-failover`),
 * which .ci/run installs; without it the drill is skipped, saying why.
 */
import { afterAll, expect, it } from "vitest";
import { migrate } from "../../src/db/migrate.ts";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { replayStories } from "../soak/stories.ts";
import { makeAgentToken, makeCell, makeTenant } from "../support/factories.ts";
import { type HaCluster, haUnavailable, startHaCluster } from "../support/ha-cluster.ts";
import { invariantViolations } from "../support/invariants.ts";
import { startJobStream } from "../support/job-stream.ts";
import { freePort, type OmegaProcess, omega, waitFor } from "../support/processes.ts";

const ADMIN = "drill-admin-token-0123456789";
const BEFORE_KILL_MS = 6_000;
const AFTER_PROMOTION_MS = 8_000;
// OMEGA_DRILL_DEFAULT_TIMEOUTS=1: the drill with pg_auto_failover's own timeouts (RTO ~30-40 s).
const DEFAULT_TIMEOUTS = process.env.OMEGA_DRILL_DEFAULT_TIMEOUTS === "1";
// OMEGA_DRILL_STANDBYS=2: two standbys with number_sync_standbys = 1 (a commit waits for one of
// them, and still does after the failover, with the standby left). Default: one standby, 0.
const STANDBYS = process.env.OMEGA_DRILL_STANDBYS === "2" ? 2 : 1;
const unavailable = haUnavailable();
if (unavailable) console.warn(`failover drill skipped: ${unavailable}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

it.skipIf(unavailable)(
  "failover drill: the primary is lost mid-stream; the standby takes over, nothing acknowledged is lost, every job ends once",
  async () => {
    const setUpAt = Date.now();
    const cluster: HaCluster = await startHaCluster({
      nodes: STANDBYS + 1,
      defaultTimeouts: DEFAULT_TIMEOUTS,
      numberSyncStandbys: STANDBYS === 2 ? 1 : undefined,
    });
    const formationMs = Date.now() - setUpAt;
    cleanups.push(() => cluster.stop());
    const pool = createPool(cluster.url, { max: 4, name: "omega-drill" });
    cleanups.push(() => pool.end());
    await migrate(pool);
    await makeCell(pool, "east");
    const tenant = (await makeTenant(pool, "acme")).token;
    const agentToken = await makeAgentToken(pool, "east");

    // Synchronous replication: the primary waits for the standby before acknowledging a commit.
    const first = await cluster.primary();
    const sync = await pool.query("select sync_state from pg_stat_replication");
    expect(sync.rows.map((r) => r.sync_state)).toEqual(
      Array.from({ length: STANDBYS }, () => expect.stringMatching(/^(sync|quorum)$/)),
    );

    const processes: OmegaProcess[] = [];
    cleanups.push(() => Promise.all(processes.map((p) => p.stop("SIGKILL"))));
    const spawn = (args: string[], env: Record<string, string>) => {
      const p = omega(args, { LOG_LEVEL: "warn", ...env });
      processes.push(p);
      return p;
    };
    const apiPort = await freePort();
    const base = `http://127.0.0.1:${apiPort}`;
    spawn(["serve", "--port", String(apiPort), "--host", "127.0.0.1"], {
      DATABASE_URL: cluster.url,
      OMEGA_ADMIN_TOKEN: ADMIN,
    });
    for (let i = 0; i < 2; i++) {
      spawn(["worker", "--scheduler", "batch", "--lost-after", "20s", "--check-every", "1s"], {
        DATABASE_URL: cluster.url,
      });
    }
    spawn(
      ["agent", "--simulate", "4", "--cell", "east", "--heartbeat", "500ms", "--poll", "250ms", "--cpu", "4"],
      { OMEGA_API_URL: base, OMEGA_AGENT_TOKEN: agentToken },
    );
    const diagnose = (error: Error) => {
      const logs = processes.map((p) => p.output().slice(-3000)).join("\n---\n");
      throw new Error(`${error.message}\n${logs}\n--- pg_autoctl ---\n${cluster.logs().slice(-4000)}`);
    };
    await waitFor(async () => bothListening(await listeners(pool)), 60_000, "two workers listening").catch(
      diagnose,
    );
    await waitFor(
      async () => (await pool.query("select count(*)::int as n from omega.machine_agents")).rows[0].n === 4,
      60_000,
      "four machines heartbeating",
    ).catch(diagnose);

    // The readiness probe and the invariants, sampled throughout (an invariant check that cannot
    // reach a primary is skipped, not counted).
    const readiness: { at: number; status: number; detail: string }[] = [];
    const violations: string[] = [];
    let invariantSamples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const answer = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(4_000) }).then(
          async (r) => ({
            status: r.status,
            detail: r.ok ? "" : ((await r.json()) as { detail: string }).detail,
          }),
          () => ({ status: 0, detail: "no answer" }),
        );
        readiness.push({ at: Date.now(), ...answer });
        await sleep(200);
      }
    })();
    const checker = (async () => {
      while (sampling) {
        const found = await invariantViolations(pool).catch(() => undefined);
        if (found) {
          invariantSamples++;
          violations.push(...found.map((v) => `${v.invariant}: ${JSON.stringify(v.row)}`));
        }
        await sleep(1_500);
      }
    })();

    const stream = startJobStream({ baseUrl: base, token: tenant });
    await sleep(BEFORE_KILL_MS);
    const killed = await cluster.killPrimary();
    const killAt = Date.now();
    const ackedBeforeKill = new Map([...stream.acknowledged].filter(([, a]) => a.at <= killAt));

    const promoted = await waitFor(
      async () => {
        const node = await cluster.primary();
        return node && node !== killed ? node : undefined;
      },
      120_000,
      "the standby's promotion",
    ).catch(diagnose);
    const promotedAt = Date.now();
    await sleep(AFTER_PROMOTION_MS);
    await stream.stop();

    // Everything settles on the new primary.
    await waitFor(
      async () =>
        (
          await pool.query(
            "select count(*)::int as n from omega.jobs where state not in ('succeeded', 'failed', 'cancelled')",
          )
        ).rows[0].n === 0,
      120_000,
      "every job to finish",
    ).catch(diagnose);
    sampling = false;
    await Promise.all([sampler, checker]);

    // The promoted node is the one the pool writes to, and the workers listen there again.
    const where = await pool.query("select inet_server_port() as port, pg_is_in_recovery() as standby");
    expect(where.rows[0]).toEqual({ port: promoted?.port, standby: false });
    expect(promoted).not.toBe(first);
    // graphile-worker re-LISTENs with its own backoff (up to 60 s after a long outage: its 2 s poll
    // keeps work flowing meanwhile), so give it that long.
    await waitFor(
      async () => bothListening(await listeners(pool)),
      90_000,
      "both workers to LISTEN again",
    ).catch(diagnose);
    const relistenedMs = Date.now() - killAt;

    // Nothing acknowledged is lost; each key made exactly one job, the one its answer named.
    const byKey = await pool.query<{ client_token: string; ids: number[] }>(
      "select client_token, array_agg(id::int order by id) as ids from omega.jobs group by client_token",
    );
    const stored = new Map(byKey.rows.map((r) => [r.client_token, r.ids]));
    const lost = [...ackedBeforeKill].filter(([key, a]) => stored.get(key)?.[0] !== a.id);
    expect(lost).toEqual([]);
    expect(byKey.rows.length).toBe(stream.acknowledged.size);
    for (const [key, a] of stream.acknowledged) expect(stored.get(key)).toEqual([a.id]);

    // Every job ended once; the event log replays; the invariants hold.
    const stories = await replayStories(pool);
    expect(stories.problems).toEqual([]);
    expect(violations).toEqual([]);
    expect(await invariantViolations(pool)).toEqual([]);

    // /readyz said no while there was no primary, and yes again after.
    const afterKill = readiness.filter((r) => r.at > killAt);
    expect(afterKill.some((r) => r.status === 503)).toBe(true);
    expect(afterKill.at(-1)?.status).toBe(200);
    // While no node takes writes, the probe names that (not just "unreachable").
    const noPrimary = afterKill.filter((r) => /no read-write \(primary\) server/.test(r.detail)).length;
    expect(noPrimary).toBeGreaterThan(0);
    const firstNo = afterKill.findIndex((r) => r.status !== 200);
    const readyAgainAt = afterKill.slice(firstNo).find((r) => r.status === 200)?.at;

    // RTO: from the kill to the first placement committed on the new primary.
    const { rows } = await pool.query<{ first: Date }>(
      "select min(at) as first from omega.events where kind = 'placed' and at > to_timestamp($1 / 1000.0)",
      [killAt],
    );
    const rtoMs = (rows[0]?.first?.getTime() ?? Number.NaN) - killAt;
    expect(rtoMs).toBeGreaterThan(0);

    // With two standbys, the one left is still waited for by the new primary.
    const syncAfter = (await pool.query("select sync_state from pg_stat_replication")).rows.map(
      (r) => r.sync_state,
    );
    if (STANDBYS === 2) expect(syncAfter).toEqual([expect.stringMatching(/^(sync|quorum)$/)]);

    for (const p of processes) expect(await p.stop("SIGTERM"), p.output()).toBe(0);
    console.log(
      JSON.stringify({
        drill: "failover",
        monitor: DEFAULT_TIMEOUTS ? "pg_auto_failover defaults" : "tightened for the drill",
        standbys: STANDBYS,
        formationMs,
        syncAfter,
        jobs: stream.acknowledged.size,
        acknowledgedBeforeKill: ackedBeforeKill.size,
        lostAcknowledged: lost.length,
        submitRetries: stream.retries(),
        promotionMs: promotedAt - killAt,
        readyAgainMs: readyAgainAt ? readyAgainAt - killAt : undefined,
        rtoMs,
        readyzNoPrimary: noPrimary,
        relistenedWithinMs: relistenedMs,
        invariantSamples,
        finals: stories.finals,
      }),
    );
  },
  300_000,
);

/**
 * The scheduler workers' LISTEN connections on the server `pool` reaches: graphile-worker's (its
 * queue) and ours (omega_wake, the wake-ups).
 */
async function listeners(pool: Pool): Promise<{ queue: number; wake: number }> {
  const { rows } = await pool.query<{ queue: number; wake: number }>(
    `select count(*) filter (where query ilike 'listen "jobs:insert"%')::int as queue,
            count(*) filter (where query ilike 'listen omega_wake%')::int as wake
     from pg_stat_activity where application_name like 'omega-worker-%'`,
  );
  return rows[0] ?? { queue: 0, wake: 0 };
}

/** Both workers listen on both channels. */
const bothListening = ({ queue, wake }: { queue: number; wake: number }) => queue >= 2 && wake >= 2;
