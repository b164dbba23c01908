import { afterAll, beforeAll, expect, it } from "vitest";
import { CellSnapshot } from "../../src/db/snapshot.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine } from "../support/factories.ts";
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
