import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { CellSnapshot } from "../../src/db/snapshot.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";
import { waitFor } from "../support/processes.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
});
afterAll(() => db.drop());

it("an incremental sync reads only what changed, and never misses a transaction that committed out of order", async () => {
  const a = await makeMachine(db.pool, { name: "a" });
  const b = await makeMachine(db.pool, { name: "b" });
  const snapshot = new CellSnapshot(db.pool, "east");
  expect(await snapshot.sync()).toEqual({ changed: 2, removed: 0 });
  await quiesce(snapshot);

  // `early` takes its transaction id first but commits last.
  const early = await db.pool.connect();
  const late = await db.pool.connect();
  try {
    await early.query("begin");
    await early.query('update omega.machines set labels = \'{"t":"early"}\' where id = $1', [a.id]);
    await late.query("begin");
    await late.query('update omega.machines set labels = \'{"t":"late"}\' where id = $1', [b.id]);
    const [xEarly, xLate] = await Promise.all([
      early.query("select pg_current_xact_id()::text::bigint as x"),
      late.query("select pg_current_xact_id()::text::bigint as x"),
    ]);
    expect(xEarly.rows[0].x).toBeLessThan(xLate.rows[0].x);
    await late.query("commit");

    await snapshot.sync();
    expect(snapshot.machines.get(b.id)?.labels).toEqual({ t: "late" });
    expect(snapshot.machines.get(a.id)?.labels).toEqual({});

    await early.query("commit");
    await snapshot.sync();
    expect(snapshot.machines.get(a.id)?.labels).toEqual({ t: "early" });
  } finally {
    early.release();
    late.release();
  }
  // Once nothing is in flight, the cursor moves past both and a sync reads nothing again.
  await quiesce(snapshot);
});

/**
 * The cursor is the server-wide xmin, which other test files' open transactions hold back for a
 * moment (a sync then re-reads rows changed since then — cost that follows changes, not the cell).
 * Once they finish, a sync with no changes must read nothing at all.
 */
async function quiesce(snapshot: CellSnapshot): Promise<void> {
  const synced = await waitFor(
    async () => (await snapshot.sync()).changed === 0,
    10_000,
    "a sync that reads nothing",
  );
  expect(synced).toBe(true);
}

it("learns of removed machines", async () => {
  await makeMachine(db.pool, { name: "gone" });
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  expect(snapshot.list().map((m) => m.name)).toContain("gone");
  await db.pool.query("select omega.set_machine_state('east', 'gone', 'down')");
  await db.pool.query("select omega.remove_machine('east', 'gone')");
  expect((await snapshot.sync()).removed).toBe(1);
  expect(snapshot.list().map((m) => m.name)).not.toContain("gone");
});

it("every write of a machine moves its cursor and version: a commit, a release, and any other update", async () => {
  await makeTenant(db.pool);
  const m = await makeMachine(db.pool, { name: "touched", cpu: 8000 });
  const stamp = async () =>
    (
      await db.pool.query<{ version: string; xid: string }>(
        "select version::text, changed_xid::text as xid from omega.machines where id = $1",
        [m.id],
      )
    ).rows[0] as { version: string; xid: string };
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  const seen = () => snapshot.machines.get(m.id)?.used.cpu;

  // A commit (plan_apply sets both columns itself; 0252).
  const before = await stamp();
  const job = await submitJob(db.pool, { resources: { cpu: 1000, memory: 1 } });
  const [task] = await pendingTaskIds(db.pool, job);
  const out = await commitPlan(db.pool, [{ taskId: task as number, machineId: m.id, version: m.version }]);
  expect(out.map((o) => o.outcome)).toEqual(["committed"]);
  const placed = await stamp();
  expect(BigInt(placed.version)).toBe(BigInt(before.version) + 1n);
  expect(BigInt(placed.xid)).toBeGreaterThan(BigInt(before.xid));
  await snapshot.sync();
  expect(seen()).toBe(1000);

  // A release (release_claims, 0252).
  await db.pool.query("select omega.release_claims('east', $1)", [[task]]);
  const released = await stamp();
  expect(BigInt(released.version)).toBe(BigInt(placed.version) + 1n);
  expect(BigInt(released.xid)).toBeGreaterThan(BigInt(placed.xid));
  await snapshot.sync();
  expect(seen()).toBe(0);

  // Any other writer, through the trigger; also one that sets only one of the two columns.
  await db.pool.query('update omega.machines set labels = \'{"k":"v"}\' where id = $1', [m.id]);
  const labelled = await stamp();
  expect(BigInt(labelled.version)).toBe(BigInt(released.version) + 1n);
  expect(BigInt(labelled.xid)).toBeGreaterThan(BigInt(released.xid));
  await db.pool.query("update omega.machines set version = version + 5 where id = $1", [m.id]);
  const bumped = await stamp();
  expect(BigInt(bumped.version)).toBe(BigInt(labelled.version) + 1n);
  expect(BigInt(bumped.xid)).toBeGreaterThan(BigInt(labelled.xid));
});

it("a change of usage syncs as usage; a change of what the machine is comes whole, whoever writes it", async () => {
  await makeTenant(db.pool).catch(() => {}); // (made by the test before when run together)
  const m = await makeMachine(db.pool, { name: "split", cpu: 8000 });
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  await quiesce(snapshot);
  const specXid = async () =>
    (await db.pool.query("select spec_xid::text as x from omega.machines where id = $1", [m.id])).rows[0]
      .x as string;
  const spec0 = await specXid();

  // A commit moves usage, not the spec: the sync reads [id, version, usage] and keeps the rest.
  const job = await submitJob(db.pool, { resources: { cpu: 1000, memory: 1 } });
  const [task] = await pendingTaskIds(db.pool, job);
  await commitPlan(db.pool, [{ taskId: task as number, machineId: m.id, version: m.version }]);
  expect(await specXid()).toBe(spec0);
  await snapshot.sync();
  const afterCommit = snapshot.machines.get(m.id);
  expect(afterCommit).toMatchObject({
    name: "split",
    used: { cpu: 1000 },
    tasks: 1,
    capacity: { cpu: 8000 },
  });
  const { rows } = await db.pool.query("select version from omega.machines where id = $1", [m.id]);
  expect(afterCommit?.version).toBe(rows[0].version);

  // A label written by someone who moves the version and cursor by hand, as a commit does: the
  // trigger still moves spec_xid, and the sync brings the machine whole.
  await db.pool.query(
    `update omega.machines set labels = '{"disk":"ssd"}', version = version + 1, changed_xid = pg_current_xact_id()
     where id = $1`,
    [m.id],
  );
  expect(BigInt(await specXid())).toBeGreaterThan(BigInt(spec0));
  await snapshot.sync();
  expect(snapshot.machines.get(m.id)).toMatchObject({ labels: { disk: "ssd" }, used: { cpu: 1000 } });

  // Drained by an operator (state): whole again.
  await db.pool.query("select omega.set_machine_state('east', 'split', 'draining')");
  await snapshot.sync();
  expect(snapshot.machines.get(m.id)?.state).toBe("draining");
});

it("a sync read along with a lease is taken in, and the sync after it is skipped; a row read incrementally never empties the snapshot", async () => {
  const { leaseWork } = await import("../../src/db/scheduling.ts");
  const tenant = await makeTenant(db.pool, "absorb");
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  const known = snapshot.machines.size;
  expect(known).toBeGreaterThan(1);
  const cursor = snapshot.since;
  await submitJob(db.pool, { tasks: 1 }, tenant.name);
  const lease = { cell: "east", scheduler: "batch", owner: "absorber", limit: 10, leaseSeconds: 5 };
  const work = await leaseWork(db.pool, lease, { cursor });
  expect(work.leased).toHaveLength(1);
  expect(work.synced?.whole).toBe(false);
  // Another evaluation of the worker found a machine it did not know meanwhile: its next sync is to
  // read the cell whole. The lease's incremental row must not clear the machines it did not bring.
  (snapshot as unknown as { cursor: string | null }).cursor = null;
  snapshot.absorb(work.synced as NonNullable<typeof work.synced>);
  expect(snapshot.machines.size).toBe(known);
  expect(snapshot.since).not.toBeNull();
  const query = vi.spyOn(db.pool, "query");
  await snapshot.sync();
  expect(query).not.toHaveBeenCalled();
  query.mockRestore();
  // A lease that takes nothing reads no sync.
  expect((await leaseWork(db.pool, lease, { cursor: snapshot.since })).synced).toBeNull();
});

it("a commit's machine updates stay on their pages (HOT), and the change log names what each statement changed", async () => {
  const tenant = await makeTenant(db.pool, "hot");
  const m = await makeMachine(db.pool, { name: "hot", cpu: 8000 });
  const other = await makeMachine(db.pool, { name: "hot-other" });
  const job = await submitJob(db.pool, { tasks: 1, resources: { cpu: 1000, memory: 1 } }, tenant.name);
  const [task] = await pendingTaskIds(db.pool, job);
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    // (The backend's counters may still hold earlier transactions' counts: compare before and after.)
    const updates = async () =>
      (
        await client.query(
          "select n_tup_upd::int as updated, n_tup_hot_upd::int as hot from pg_stat_xact_user_tables where relid = 'omega.machines'::regclass",
        )
      ).rows[0] as { updated: number; hot: number };
    const before = await updates();
    const { rows: out } = await client.query(
      "select outcome from omega.commit_plan('east', 'batch', $1, $2, $3)",
      [[task], [m.id], [m.version]],
    );
    expect(out).toEqual([{ outcome: "committed" }]);
    // No index reads a column a commit writes (0346 dropped machines_changed): a HOT update.
    const after = await updates();
    expect({ updated: after.updated - before.updated, hot: after.hot - before.hot }).toEqual({
      updated: 1,
      hot: 1,
    });
    // Any other writer afterwards in the same transaction is logged by the trigger: the commit's
    // own log did not leave the trigger switched off.
    await client.query('update omega.machines set labels = \'{"x":"y"}\' where id = $1', [other.id]);
    const { rows: logged } = await client.query(
      "select machine_ids from omega.machine_changes where xid = pg_current_xact_id() order by id",
    );
    expect(logged.map((r) => r.machine_ids.map(Number))).toEqual([[m.id], [other.id]]);
  } finally {
    await client.query("rollback");
    client.release();
  }
});

it("a cursor older than what the pruned change log holds reads the cell whole", async () => {
  const m = await makeMachine(db.pool, { name: "pruned" });
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  await quiesce(snapshot);
  const cell = (await db.pool.query("select count(*)::int as n from omega.machines where cell = 'east'"))
    .rows[0].n as number;
  await db.pool.query('update omega.machines set labels = \'{"p":"q"}\' where id = $1', [m.id]);
  const { rows } = await db.pool.query("select omega.prune_machine_changes('0 seconds') as pruned");
  expect(rows[0].pruned).toBeGreaterThan(0);
  // The change itself is gone from the log; the horizon sends the snapshot back to the whole cell.
  expect(await snapshot.sync()).toEqual({ changed: cell, removed: expect.any(Number) });
  expect(snapshot.machines.get(m.id)?.labels).toEqual({ p: "q" });
  await quiesce(snapshot);
});

it("the machine list stays sorted and current through patched syncs, and a list handed out earlier never changes", async () => {
  await makeTenant(db.pool).catch(() => {}); // (made by a test before when run together)
  const m = await makeMachine(db.pool, { name: "listed", cpu: 8000 });
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  const sorted = () => [...snapshot.machines.values()].sort((a, b) => a.id - b.id);
  const before = snapshot.list();
  const usedBefore = before.find((x) => x.id === m.id)?.used.cpu;

  // Usage only (patched in place of a copy), then what the machine is, then a new machine.
  const job = await submitJob(db.pool, { resources: { cpu: 1000, memory: 1 } });
  const [task] = await pendingTaskIds(db.pool, job);
  await commitPlan(db.pool, [{ taskId: task as number, machineId: m.id, version: m.version }]);
  await snapshot.sync();
  expect(snapshot.list()).toEqual(sorted());
  expect(snapshot.list().find((x) => x.id === m.id)?.used.cpu).toBe((usedBefore ?? 0) + 1000);
  expect(before.find((x) => x.id === m.id)?.used.cpu).toBe(usedBefore);

  await db.pool.query('update omega.machines set labels = \'{"k":"listed"}\' where id = $1', [m.id]);
  await snapshot.sync();
  expect(snapshot.list()).toEqual(sorted());
  expect(snapshot.list().find((x) => x.id === m.id)?.labels).toEqual({ k: "listed" });

  const added = await makeMachine(db.pool, { name: "listed-too" });
  await snapshot.sync();
  expect(snapshot.list()).toEqual(sorted());
  expect(snapshot.list().some((x) => x.id === added.id)).toBe(true);
});
