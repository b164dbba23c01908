import { afterAll, beforeAll, expect, it } from "vitest";
import { isDatabaseUnavailable } from "../../src/db/errors.ts";
import { createPool } from "../../src/db/pool.ts";
import { freePort } from "../../src/net/free-port.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

/** db.url with `hosts` in place of its one host:port. */
function withHosts(hosts: string[], query = ""): string {
  const url = new URL(db.url);
  const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ""}@` : "";
  return `postgres://${auth}${hosts.join(",")}${url.pathname}${query}`;
}

it("a multi-host pool skips a host that does not answer and works on the next", async () => {
  const real = new URL(db.url).host;
  const dead = `127.0.0.1:${await freePort()}`;
  const pool = createPool(withHosts([dead, real], "?target_session_attrs=read-write"), { max: 2 });
  try {
    const { rows } = await pool.query("select current_database() as name, inet_server_port() as port");
    expect(rows[0]).toEqual({ name: new URL(db.url).pathname.slice(1), port: Number(new URL(db.url).port) });
    // Later connections go straight to the host found.
    const clients = await Promise.all([pool.connect(), pool.connect()]);
    for (const c of clients) c.release();
  } finally {
    await pool.end();
  }
});

it("with target_session_attrs=read-write, a read-only server is refused with a connection error (08001)", async () => {
  const name = new URL(db.url).pathname.slice(1);
  await db.pool.query(`alter database ${name} set default_transaction_read_only = on`);
  const pool = createPool(withHosts([new URL(db.url).host], "?target_session_attrs=read-write"), { max: 1 });
  const any = createPool(withHosts([new URL(db.url).host, new URL(db.url).host]), { max: 1 });
  try {
    const error = await pool.query("select 1").catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "08001",
      message: expect.stringMatching(/^no read-write \(primary\) server among/),
    });
    expect(isDatabaseUnavailable(error)).toBe(true);
    // Without the attribute, any server will do.
    expect((await any.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
  } finally {
    await db.pool.query(`alter database ${name} reset default_transaction_read_only`);
    await Promise.all([pool.end(), any.end()]);
  }
});
