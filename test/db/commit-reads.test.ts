import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "../../src/db/pool.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { commitPlan, makeCell, makeTenant, pendingTaskIds, submitJob } from "../support/factories.ts";

// The statistics are stale (the tables were empty when last counted, as in a young cell or after a
// burst the maintenance has not yet analyzed). A commit must still read what it proposes, by key,
// not the cell's claims, jobs or tasks (0250_commit_by_key.sql).

let db: TestDatabase;
let machines: { id: number; version: number }[];
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  machines = (
    await db.pool.query<{ id: number; version: number }>(
      `select m.id, m.version from generate_series(1, 1000) g
       cross join lateral omega.put_machine('east', 'm' || g, '{"cpu": 64000, "memory": 65536}', '{}', '[]', null) m
       order by m.id`,
    )
  ).rows;
  // 3,000 one-task jobs placed: 3,000 claims and 3,000 jobs in the cell (3 a machine).
  await db.pool.query(
    `select omega.submit_job('acme', jsonb_build_object('cell', 'east', 'tasks', 1, 'priority', 100,
       'resources', jsonb_build_object('cpu', 10, 'memory', 1)))
     from generate_series(1, 3000)`,
  );
  const { rows } = await db.pool.query<{ id: number }>(
    "select id from omega.tasks where cell = 'east' and state = 'pending' order by id",
  );
  const placed = await commitPlan(
    db.pool,
    rows.map((r, i) => {
      const m = machines[i % machines.length] as { id: number; version: number };
      return { taskId: r.id, machineId: m.id, version: m.version };
    }),
  );
  expect(placed.filter((o) => o.outcome === "committed")).toHaveLength(3000);
}, 60_000);
afterAll(() => db.drop());

/** Rows the statement read from each table, by index or scan (pg_stat_xact: this transaction's). */
async function reads(client: Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ relname: string; n: number }>(
    `select relname, (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0))::int as n
     from pg_stat_xact_user_tables where schemaname = 'omega' and relname in ('claims', 'jobs', 'tasks', 'machines')`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, r.n]));
}

async function readsOfCommit(
  placements: { taskId: number; machineId: number; version: number; victims?: number[] }[],
) {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    // A session's counts not yet flushed show in pg_stat_xact too: measure the difference.
    const before = await reads(client);
    const { rows } = await client.query(
      "select * from omega.commit_plan('east', 'batch', $1, $2, $3, 'incremental', 'fine', 'test', $4, $5)",
      [
        placements.map((p) => p.taskId),
        placements.map((p) => p.machineId),
        placements.map((p) => p.version),
        placements.flatMap((p) => p.victims ?? []),
        placements.flatMap((p) => (p.victims ?? []).map(() => p.taskId)),
      ],
    );
    const after = await reads(client);
    const delta = Object.fromEntries(Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)]));
    return { outcomes: rows, delta };
  } finally {
    await client.query("rollback");
    client.release();
  }
}

describe("a small commit in a cell of 3,000 claims, on stale statistics", () => {
  it("reads its own rows, not the cell's claims or jobs", async () => {
    const job = await submitJob(db.pool, { tasks: 3, resources: { cpu: 10, memory: 1 } });
    const tasks = await pendingTaskIds(db.pool, job);
    const placements = tasks.map((taskId, i) => {
      const m = machines[i] as { id: number; version: number };
      return { taskId, machineId: m.id, version: m.version };
    });
    const { outcomes, delta } = await readsOfCommit(placements);
    expect(outcomes.map((o) => o.outcome)).toEqual(["committed", "committed", "committed"]);
    for (const table of ["claims", "jobs", "tasks", "machines"])
      expect(delta[table], table).toBeLessThan(100);
  });

  it("reads its victims' claims by key when it preempts, and releases them by key", async () => {
    await db.pool.query(`select omega.set_tenant_limits('acme', '{"maxPriority": 999}')`);
    await db.pool.query(`select omega.set_quota_policy('east', '{"production": "unlimited"}')`);
    const victim = (
      await db.pool.query<{ task_id: number; machine_id: number; free: number; version: number }>(
        `select c.task_id, c.machine_id, m.cpu - m.used_cpu as free, m.version
         from omega.claims c join omega.machines m on m.cell = c.cell and m.id = c.machine_id
         where c.cell = 'east' order by c.task_id limit 1`,
      )
    ).rows[0] as { task_id: number; machine_id: number; free: number; version: number };
    // A preemptor as big as the machine's free room plus the victim's 10 millicores.
    const job = await submitJob(db.pool, {
      tasks: 1,
      priority: 300,
      resources: { cpu: victim.free + 10, memory: 1 },
    });
    const [taskId] = await pendingTaskIds(db.pool, job);
    const { outcomes, delta } = await readsOfCommit([
      {
        taskId: taskId as number,
        machineId: victim.machine_id,
        version: victim.version,
        victims: [victim.task_id],
      },
    ]);
    expect(outcomes.map((o) => o.outcome)).toEqual(["committed", "evicted"]);
    for (const table of ["claims", "jobs", "tasks", "machines"])
      expect(delta[table], table).toBeLessThan(100);
  });
});
