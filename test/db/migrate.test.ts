import { randomBytes } from "node:crypto";
import pg from "pg";
import { expect, inject, it } from "vitest";
import { databaseUrl } from "../../src/db/database-url.ts";
import { loadMigrations } from "../../src/db/migrate.ts";
import { omega } from "../support/processes.ts";

it("many processes migrating one empty database at once apply each migration exactly once", async () => {
  const serverUrl = inject("serverUrl");
  const name = `omega_test_${process.ppid}_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  try {
    const url = databaseUrl(serverUrl, name);
    const migrators = Array.from({ length: 6 }, () => omega(["migrate"], { DATABASE_URL: url }));
    const codes = await Promise.all(migrators.map((m) => m.exited));
    expect(codes, migrators.map((m) => m.output()).join("\n")).toEqual(codes.map(() => 0));

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("select version, name from omega_meta.migrations order by version");
    await client.end();
    const expected = (await loadMigrations()).map((m) => ({ version: m.version, name: m.name }));
    expect(rows).toEqual(expected);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
