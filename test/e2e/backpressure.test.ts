import type { PoolClient } from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeCell, makeTenant } from "../support/factories.ts";

// Overload gets a fast 503 with Retry-After, never a request left to time out; accepted work is
// kept; submissions that arrive together are committed together.
let api: Api;
let tenant: string;
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  tenant = (await makeTenant(api.db.pool)).token;
});
afterAll(() => api.close());

it("refuses at once with 503 and Retry-After while the database is saturated, says so in /readyz, and serves what it accepted", async () => {
  // Shedding from 10 requests waiting for a connection (a deployment's default is 16 per
  // connection), so that the test can saturate it.
  const api = await startApi({ maxWaiting: 10 });
  const tenant = (await makeTenant(api.db.pool)).token;
  // Every connection of the server's pool busy: requests beyond ten waiting must not queue.
  const held: PoolClient[] = [];
  // (The server's event feed holds one of them already, for its LISTEN.)
  const pool = api.db.pool;
  const free = (pool.options.max ?? 10) - (pool.totalCount - pool.idleCount);
  for (let i = 0; i < free; i++) held.push(await pool.connect());
  try {
    let answered = 0;
    const waiting = Array.from({ length: 10 }, () =>
      api.call("GET", "/v1/jobs", { token: tenant }).finally(() => answered++),
    );
    // Let those ten reach the pool's queue.
    while (api.db.pool.waitingCount < 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const refused = await api.call("GET", "/v1/jobs", { token: tenant });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.detail).toMatch(/at capacity/);
    // Refused without waiting for a connection: the ten before it are still waiting for theirs.
    expect(answered).toBe(0);
    const ready = await api.call("GET", "/readyz", { token: null });
    expect(ready.status).toBe(503);
    expect(ready.body.detail).toMatch(/shedding load/);

    for (const c of held.splice(0)) c.release();
    const answers = await Promise.all(waiting);
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await api.call("GET", "/readyz", { token: null })).status).toBe(200);
  } finally {
    for (const c of held) c.release();
    await api.close();
  }
});

it("commits submissions that arrive together in shared transactions, each refused or kept on its own", async () => {
  const specs = Array.from({ length: 120 }, (_, i) => ({
    name: `g${i}`,
    cell: "east",
    tasks: 1,
    resources: { cpu: 100 },
    // Every tenth names a scheduler that does not exist: only the database can tell.
    ...(i % 10 === 9 ? { scheduler: "nosuch" } : {}),
  }));
  // The first transactions wait on a lock (the batcher runs two at once), so that submissions
  // arriving meanwhile queue behind them, however fast this machine commits or slowly it serves:
  // held until both wait, and a moment more (not so long that the batcher, timing them, sheds).
  const blocker = await api.db.pool.connect();
  await blocker.query("begin");
  await blocker.query("lock table omega.jobs in share mode");
  const sent = Promise.all(specs.map((body) => api.call("POST", "/v1/jobs", { token: tenant, body })));
  const waitingOnLock = async () =>
    (
      await api.db.pool.query(
        "select count(*)::int as n from pg_locks where not granted and relation = 'omega.jobs'::regclass",
      )
    ).rows[0].n as number;
  for (let tries = 0; tries < 200 && (await waitingOnLock()) < 2; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  await blocker.query("commit");
  blocker.release();
  const replies = await sent;
  const refused = replies.filter((r) => r.status === 422);
  expect(refused).toHaveLength(12);
  expect(refused[0]?.body.detail).toMatch(/not a known scheduler/);
  const ids = replies.filter((r) => r.status === 201).map((r) => r.body.id);
  expect(ids).toHaveLength(108);
  // A job's created_at is its transaction's start: fewer transactions than jobs.
  const { rows } = await api.db.pool.query(
    "select count(distinct created_at)::int as transactions, count(*)::int as jobs from omega.jobs where id = any($1)",
    [ids],
  );
  expect(rows[0].jobs).toBe(108);
  expect(rows[0].transactions).toBeLessThan(108);
  // Nothing of a refused job was written.
  const names = await api.db.pool.query("select count(*)::int as n from omega.jobs where name like 'g%9'");
  expect(names.rows[0].n).toBe(0);
});

it("refuses submissions at once with 503 while the database stalls, instead of queueing them into a timeout; what it accepted is kept, what it refused was never written", async () => {
  const api = await startApi({ submissionQueueDelayMs: 200 });
  const tenant = (await makeTenant(api.db.pool)).token;
  await makeCell(api.db.pool);
  // A stalled database: nothing can insert a job while this lock is held.
  const stall = await api.db.pool.connect();
  try {
    await stall.query("begin");
    await stall.query("lock table omega.jobs in share mode");
    // Answers that arrive while the database is still stalled: refusals, and nothing else.
    let stalled = true;
    const duringStall: number[] = [];
    const replies = Array.from({ length: 400 }, (_, i) =>
      api
        .call("POST", "/v1/jobs", {
          token: tenant,
          body: { name: `s${i}`, cell: "east", tasks: 1, resources: { cpu: 100 } },
        })
        .then((reply) => {
          if (stalled) duringStall.push(reply.status);
          return reply;
        }),
    );
    // The stall lasts until refusals have come back: well beyond the 200 ms the server allows
    // itself (on a loaded machine, as long as that takes).
    const giveUpAt = Date.now() + 60_000;
    while (duringStall.length === 0 && Date.now() < giveUpAt) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stalled = false;
    await stall.query("commit");
    const answers = await Promise.all(replies);
    const refused = answers.filter((a) => a.status === 503);
    const accepted = answers.filter((a) => a.status === 201);
    expect(refused.length + accepted.length).toBe(400);
    // Refused during the stall, not after it; with Retry-After.
    expect(duringStall.length).toBeGreaterThan(0);
    expect(duringStall.every((status) => status === 503)).toBe(true);
    expect(refused[0]?.headers.get("retry-after")).toBe("1");
    const { rows } = await api.db.pool.query(
      "select count(*)::int as n from omega.jobs where name like 's%'",
    );
    expect(rows[0].n).toBe(accepted.length);
  } finally {
    await stall.query("rollback").catch(() => {});
    stall.release();
    await api.close();
  }
});
