import type pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { registerScheduler } from "../../src/db/scheduling.ts";
import { openWarmConnections, warmScheduling, warmSubmission } from "../../src/db/warm-up.ts";
import { batchProfile } from "../../src/placement/profiles.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

// Each connection of a starting process runs the hot path once on a fixture that its transaction
// rolls back (0290): the statements are prepared on it, and nothing of the fixture remains.
let db: TestDatabase;
/** A logger that must stay silent: a warm-up that failed would say so here. */
const quiet = () => ({ warn: vi.fn() }) as unknown as pino.Logger & { warn: ReturnType<typeof vi.fn> };
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const TABLES = [
  "cells",
  "machines",
  "tenants",
  "jobs",
  "tasks",
  "claims",
  "plans",
  "events",
  "schedulers",
  "warm_ups",
];

async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows } = await db.pool.query(`select count(*)::int as n from omega.${table}`);
    counts[table] = rows[0].n;
  }
  return counts;
}

/** Runs `work` on a pool of `max` connections of its own, closed after. */
async function withPool(max: number, work: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = createPool(db.url, { max });
  try {
    await work(pool);
  } finally {
    await pool.end();
  }
}

/** The statements prepared on each of the pool's `n` connections. */
async function preparedOnEach(pool: Pool, n: number): Promise<string[][]> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    return await Promise.all(
      clients.map(async (c) =>
        (await c.query("select name from pg_prepared_statements order by 1")).rows.map((r) => r.name),
      ),
    );
  } finally {
    for (const c of clients) c.release();
  }
}

describe("warm connections", () => {
  it("prepare the API's hot statements on every connection and leave no row behind", async () => {
    const before = await rowCounts();
    await withPool(3, async (pool) => {
      const log = quiet();
      await openWarmConnections(pool, 3, warmSubmission, log);
      expect(log.warn).not.toHaveBeenCalled();
      expect(pool.totalCount).toBe(3);
      for (const names of await preparedOnEach(pool, 3)) {
        expect(names).toEqual(
          expect.arrayContaining(["omega.job_get", "omega.jobs_get", "omega.submit_jobs"]),
        );
      }
    });
    expect(await rowCounts()).toEqual(before);
  });

  it("prepare a scheduler's lease and commit on every connection and leave no row behind", async () => {
    const before = await rowCounts();
    await withPool(2, async (pool) => {
      const log = quiet();
      await openWarmConnections(pool, 2, (client) => warmScheduling(client, batchProfile), log);
      // A profile no worker has registered yet (its first start) warms up as well.
      await openWarmConnections(
        pool,
        1,
        (client) => warmScheduling(client, { ...batchProfile, name: "fresh" }),
        log,
      );
      expect(log.warn).not.toHaveBeenCalled();
      for (const names of await preparedOnEach(pool, 2)) {
        expect(names).toEqual(
          expect.arrayContaining(["omega.commit_plan", "omega.lease_and_read", "omega.lease_and_sync"]),
        );
      }
    });
    expect(await rowCounts()).toEqual(before);
  });

  it("leaves a registered profile's row unlocked, so connections and workers warm up side by side", async () => {
    await registerScheduler(db.pool, batchProfile.name, batchProfile);
    const warming = await db.pool.connect();
    const other = await db.pool.connect();
    try {
      await warming.query("begin");
      await warmScheduling(warming, batchProfile);
      // What registering the profile again (a worker starting) or another warm-up would need.
      await other.query("begin");
      await expect(
        other.query("select from omega.schedulers where name = $1 for no key update nowait", [
          batchProfile.name,
        ]),
      ).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await other.query("rollback");
      await warming.query("rollback");
      warming.release();
      other.release();
    }
  });

  it("a warm-up that fails is logged, and the process starts with its connections all the same", async () => {
    const log = quiet();
    await withPool(2, async (pool) => {
      await openWarmConnections(
        pool,
        2,
        async (client) => {
          await client.query("select 1/0");
        },
        log,
      );
      expect(log.warn).toHaveBeenCalledTimes(2);
      expect(pool.totalCount).toBe(2);
      expect(pool.idleCount).toBe(2);
    });
  });
});

describe("the warm-up fixture", () => {
  it("can never be committed: whoever calls it gets its rows only until the transaction ends", async () => {
    const before = await rowCounts();
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      const { rows } = await client.query("select * from omega.warm_up_fixture('batch')");
      expect(rows).toEqual([
        {
          cell: `omega-warm-up-${(await client.query("select pg_backend_pid() as pid")).rows[0].pid}`,
          tenant: expect.any(String),
          tenant_id: expect.any(Number),
          job_id: expect.any(Number),
          machine_id: expect.any(Number),
          machine_version: expect.any(Number),
        },
      ]);
      await expect(client.query("commit")).rejects.toMatchObject({
        code: "OM409",
        message: "a warm-up fixture is rolled back, never committed",
      });
      // Constraints made immediate refuse it at once.
      await client.query("begin");
      await client.query("set constraints all immediate");
      await expect(client.query("select * from omega.warm_up_fixture('batch')")).rejects.toMatchObject({
        code: "OM409",
      });
      await client.query("rollback");
    } finally {
      client.release();
    }
    expect(await rowCounts()).toEqual(before);
  });
});
