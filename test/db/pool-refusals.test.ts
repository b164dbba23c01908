import { afterAll, beforeAll, expect, it } from "vitest";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
let pool: Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, { max: 1, name: "omega-test-refusals" });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const backend = async () => (await pool.query("select pg_backend_pid() as pid")).rows[0].pid as number;

it("a statement's refusal gives the connection back for reuse: no new backend per refused request", async () => {
  const before = await backend();
  for (let i = 0; i < 10; i++) {
    await expect(pool.query("select 1 / 0")).rejects.toMatchObject({ code: "22012" });
    await expect(
      pool.query("do $$ begin raise exception using errcode = 'OM422', message = 'refused'; end $$"),
    ).rejects.toMatchObject({ code: "OM422" });
    await expect(pool.query("select * from omega.no_such_table")).rejects.toMatchObject({ code: "42P01" });
  }
  expect(await backend()).toBe(before);
  expect(pool.totalCount).toBe(1);
});

it("a connection that may be broken or read-only is dropped, and the next query gets a new one", async () => {
  // Terminated (a database restart, an administrator): 57P01, or the socket closing under it.
  const killed = await backend();
  await db.pool.query("select pg_terminate_backend($1)", [killed]);
  // (The idle connection may hear of it first and leave the pool: then the query runs on a new one.)
  await pool.query("select 1").catch(() => {});
  const next = await backend();
  expect(next).not.toBe(killed);

  // Read-only (a primary demoted to a standby under a failover): 25006.
  await db.pool.query("create sequence if not exists pool_refusals_probe");
  await pool.query("select set_config('default_transaction_read_only', 'on', false)");
  await expect(pool.query("select nextval('pool_refusals_probe')")).rejects.toMatchObject({ code: "25006" });
  expect(await backend()).not.toBe(next);
  await pool.query("select nextval('pool_refusals_probe')");
});

it("the callback form still works", async () => {
  const result = await new Promise<unknown>((resolve, reject) =>
    pool.query("select 7 as n", (error, res) => (error ? reject(error) : resolve(res.rows[0].n))),
  );
  expect(result).toBe(7);
});
