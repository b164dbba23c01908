import { afterAll, beforeAll, expect, it } from "vitest";
import { LoadShedder } from "../../src/api/load-shedding.ts";
import { createPool, type Pool } from "../../src/db/pool.ts";
import { trackPoolWaits } from "../../src/db/pool-waits.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
let pool: Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, { max: 1, name: "omega-test-waits" });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

it("the oldest wait for a connection is timed, through pool.connect and pool.query alike", async () => {
  const waits = trackPoolWaits(pool);
  expect(waits.oldestWaitMs()).toBe(0);
  const held = await pool.connect();
  const queued = pool.query("select 1");
  await new Promise((r) => setTimeout(r, 60));
  expect(waits.oldestWaitMs()).toBeGreaterThanOrEqual(50);
  held.release();
  await queued;
  expect(waits.oldestWaitMs()).toBe(0);
});

it("the API sheds new requests (503, Retry-After) once a request has waited too long for the database", async () => {
  const shedder = new LoadShedder(pool, 1_000, 40);
  const pass = () =>
    new Promise<unknown>((resolve) => {
      try {
        shedder.middleware({} as never, {} as never, () => resolve("next"));
      } catch (error) {
        resolve(error);
      }
    });
  expect(await pass()).toBe("next");
  const held = await pool.connect();
  const queued = pool.query("select 1");
  await new Promise((r) => setTimeout(r, 60));
  expect(await pass()).toMatchObject({ status: 503, headers: { "Retry-After": "1" } });
  expect(shedder.shedding).toBe(true);
  held.release();
  await queued;
  expect(await pass()).toBe("next");
});
