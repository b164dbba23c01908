import type { PoolClient } from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { refreshStatistics } from "../../src/db/queries/statistics-refresh.ts";
import { commitPlan } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, pendingTaskIds, submitJob } from "../support/factories.ts";

// Generic plans are made once per connection: a connection that planned the commit while the cell
// was young must not go on reading the whole cell for every commit once it has grown. The
// maintenance's statistics refresh makes PostgreSQL plan again on the grown tables.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

/**
 * Runs `sql` and makes its row counts visible to other sessions at once (a backend reports its
 * statistics at most once a second otherwise), as they are a few seconds later in production.
 */
async function changeAndReport(database: TestDatabase, sql: string): Promise<void> {
  const client = await database.pool.connect();
  try {
    await client.query(sql);
    await client.query("select pg_stat_force_next_flush()");
    await client.query("select 1");
  } finally {
    client.release();
  }
}

/** `n` jobs of `tasks` tasks each, through omega.submit_job. */
function submit(database: TestDatabase, n: number, tasks = 1): Promise<void> {
  return changeAndReport(
    database,
    `select omega.submit_job('acme', '{"cell": "east", "tasks": ${tasks}, "resources": {"cpu": 10, "memory": 10}}'::jsonb)
     from generate_series(1, ${n})`,
  );
}

/**
 * Commits `taskIds` onto `machines` (in order) in one transaction on `client`, and answers how many
 * rows of `table` that transaction fetched through an index.
 */
async function placeAndCountFetches(
  client: PoolClient,
  taskIds: readonly number[],
  machines: readonly { id: number; version: number }[],
  table: "machines" | "tasks",
): Promise<number> {
  await client.query("begin");
  const outcomes = await commitPlan(client, {
    cell: "east",
    scheduler: "batch",
    worker: "test",
    placements: taskIds.map((taskId, i) => {
      const machine = machines[i];
      if (!machine) throw new Error(`no machine for task ${taskId}`);
      return { taskId, machineId: machine.id, machineVersion: machine.version };
    }),
    transactionMode: "incremental",
    conflictMode: "fine",
  });
  const { rows: stats } = await client.query(
    "select idx_tup_fetch::int as fetched from pg_stat_xact_user_tables where schemaname = 'omega' and relname = $1",
    [table],
  );
  await client.query("commit");
  expect(outcomes.filter((o) => o.outcome !== "committed")).toEqual([]);
  return stats[0].fetched as number;
}

it("analyzes a hot table that grew, and not one that only churned within the minute", async () => {
  await changeAndReport(
    db,
    `select omega.put_machine('east', 'bulk-' || g, '{"cpu": 32000, "memory": 131072}'::jsonb, '{}'::jsonb, '[]'::jsonb, null)
     from generate_series(1, 600) g`,
  );
  expect(await refreshStatistics(db.pool)).toContain("machines");
  expect(await refreshStatistics(db.pool)).not.toContain("machines");
  // Churn at a steady size (every machine rewritten, as commits do): the statistics were taken
  // seconds ago, so no analyze — each would make every session plan its statements again.
  await changeAndReport(db, "update omega.machines set version = version + 1");
  expect(await refreshStatistics(db.pool)).not.toContain("machines");
});

it("lets one caller analyze at a time; the others skip", async () => {
  const holder = await db.pool.connect();
  try {
    await holder.query("begin");
    await holder.query("select pg_advisory_xact_lock(hashtext('omega.refresh_statistics'))");
    await submit(db, 400);
    expect(await refreshStatistics(db.pool)).toEqual([]);
    await holder.query("commit");
    expect(await refreshStatistics(db.pool)).toContain("tasks");
  } finally {
    holder.release();
  }
});

it("waits for a table to grow fourfold, then analyzes with it every table grown by half", async () => {
  const young = await createTestDatabase();
  try {
    await makeCell(young.pool);
    await makeTenant(young.pool);
    const refresh = async () =>
      (await refreshStatistics(young.pool)).filter((t) => t === "jobs" || t === "tasks");
    // Never analyzed with rows: counted from 50, so analyzed from 200 on.
    await submit(young, 120);
    expect(await refresh()).toEqual([]);
    await submit(young, 100);
    expect(await refresh()).toEqual(["jobs", "tasks"]);
    // 520 rows, analyzed at 220: not yet; 920 is four times 220.
    await submit(young, 300);
    expect(await refresh()).toEqual([]);
    await submit(young, 400);
    expect(await refresh()).toEqual(["jobs", "tasks"]);
    // Tasks quadruple alone (a big job); jobs grew by 1 in 920 and stay as they were.
    await submit(young, 1, 2_800);
    expect(await refresh()).toEqual(["tasks"]);
    // Jobs grow by half (920 → 1,381): nothing is due, nothing analyzed...
    await submit(young, 460);
    expect(await refresh()).toEqual([]);
    // ...until tasks quadruple again (3,720 → 14,981): one analyze of both, one re-planning.
    await submit(young, 1, 10_000);
    await submit(young, 1, 800);
    expect(await refresh()).toEqual(["jobs", "tasks"]);
  } finally {
    await young.drop();
  }
});

it("after a refresh, a connection that planned its commits on a young cell looks machines up by key", async () => {
  const client = await db.pool.connect();
  try {
    const place = async (tasks: number) => {
      const job = await submitJob(db.pool, { tasks, resources: { cpu: 100, memory: 100 } });
      const { rows } = await db.pool.query(
        "select id, version from omega.machines order by random() limit $1",
        [tasks],
      );
      return placeAndCountFetches(client, await pendingTaskIds(db.pool, job), rows, "machines");
    };
    // Planned while the cell is young (a handful of machines, no statistics).
    await makeMachine(db.pool, { name: "young" });
    await place(1);
    // The cell grows to 1,600 machines; the maintenance refreshes the statistics.
    await changeAndReport(
      db,
      `select omega.put_machine('east', 'grown-' || g, '{"cpu": 32000, "memory": 131072}'::jsonb, '{}'::jsonb, '[]'::jsonb, null)
       from generate_series(1, 1000) g`,
    );
    await refreshStatistics(db.pool);
    // Three placements read their three machines (a few times over, by key), not the cell's 1,600.
    expect(await place(3)).toBeLessThan(100);
  } finally {
    client.release();
  }
});

it("a connection that planned its commits on a cell analyzed empty looks tasks up by key once a big job arrives", async () => {
  // A fresh install analyzed before its first job (ANALYZE, vacuumdb -z): every index of an empty
  // table costs the same, and a plan made then reads a commit's tasks through an index on the cell
  // alone. A big job arriving before any refresh must not be committed with that plan.
  const fresh = await createTestDatabase();
  const client = await fresh.pool.connect();
  try {
    await makeCell(fresh.pool);
    await makeTenant(fresh.pool);
    for (let i = 0; i < 3; i++) await makeMachine(fresh.pool, { name: `m${i}` });
    await fresh.pool.query("analyze");
    const place = async (job: number) => {
      const { rows } = await fresh.pool.query("select id, version from omega.machines order by id");
      return placeAndCountFetches(client, (await pendingTaskIds(fresh.pool, job)).slice(0, 3), rows, "tasks");
    };
    await place(await submitJob(fresh.pool, { tasks: 3, resources: { cpu: 10, memory: 10 } }));
    // 30,000 tasks arrive; no statistics refresh runs before the next commit.
    const big = await fresh.pool.query<{ job: number }>(
      `select omega.submit_job('acme', '{"cell": "east", "tasks": 10000, "resources": {"cpu": 10, "memory": 10}}'::jsonb) as job
       from generate_series(1, 3)`,
    );
    // Three placements read their three tasks (a few times over, by key), not the cell's 30,003.
    expect(await place(big.rows[0]?.job ?? 0)).toBeLessThan(100);
  } finally {
    client.release();
    await fresh.drop();
  }
});

it("analyzes an outgrown table once when commits race to it: the others wait and find it done", async () => {
  const fresh = await createTestDatabase();
  const holder = await fresh.pool.connect();
  try {
    await makeCell(fresh.pool);
    await makeTenant(fresh.pool);
    for (let i = 0; i < 4; i++) await makeMachine(fresh.pool, { name: `m${i}` });
    await fresh.pool.query("analyze omega.tasks");
    await fresh.pool.query(
      `select omega.submit_job('acme', '{"cell": "east", "tasks": 10000, "resources": {"cpu": 10, "memory": 10}}'::jsonb)
       from generate_series(1, 2)`,
    );
    const analyses = async () =>
      (
        await fresh.pool.query(
          "select analyze_count::int as n from pg_stat_user_tables where schemaname = 'omega' and relname = 'tasks'",
        )
      ).rows[0].n as number;
    await fresh.pool.query("select pg_stat_clear_snapshot()");
    const before = await analyses();
    // A commit analyzing it holds the lock until it commits; three more commits arrive meanwhile.
    await holder.query("begin");
    expect((await holder.query("select omega.analyze_outgrown() as a")).rows[0].a).toEqual(["tasks"]);
    const { rows: machines } = await fresh.pool.query("select id, version from omega.machines order by id");
    const { rows: tasks } = await fresh.pool.query(
      "select id from omega.tasks where state = 'pending' order by id limit 3",
    );
    let answered = 0;
    const commits = tasks.map((t, i) =>
      commitPlan(fresh.pool, {
        cell: "east",
        scheduler: "batch",
        worker: `w${i}`,
        placements: [{ taskId: t.id, machineId: machines[i].id, machineVersion: machines[i].version }],
        transactionMode: "incremental",
        conflictMode: "fine",
      }).then((outcomes) => {
        answered++;
        return outcomes;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(0);
    await holder.query("commit");
    for (const outcomes of await Promise.all(commits)) expect(outcomes[0]?.outcome).toBe("committed");
    await changeAndReport(fresh, "select 1");
    await expect.poll(analyses).toBe(before + 1);
  } finally {
    holder.release();
    await fresh.drop();
  }
});

it("has a commit analyze a table only while its statistics describe it as (nearly) empty", async () => {
  // Each such analyze holds every other commit back; a table analyzed with rows in it keeps its
  // by-key plans whatever it grows to, and refresh_statistics keeps its shape current.
  const fresh = await createTestDatabase();
  try {
    await makeCell(fresh.pool);
    await makeTenant(fresh.pool);
    await fresh.pool.query("analyze omega.tasks");
    const outgrown = async () =>
      (await fresh.pool.query("select s from omega.outgrown_statistics() s order by 1")).rows.map((r) => r.s);
    const submit = (tasks: number) =>
      fresh.pool.query(
        `select omega.submit_job('acme', '{"cell": "east", "tasks": ${tasks}, "resources": {"cpu": 10, "memory": 10}}'::jsonb)`,
      );
    await submit(100);
    expect(await outgrown()).toEqual([]); // a few pages: not yet worth stopping the commits for
    await submit(10_000);
    expect(await outgrown()).toEqual(["tasks"]);
    await fresh.pool.query("analyze omega.tasks");
    for (let i = 0; i < 4; i++) await submit(10_000); // fourfold and more, on statistics with rows
    expect(await outgrown()).toEqual([]);
  } finally {
    await fresh.drop();
  }
});
