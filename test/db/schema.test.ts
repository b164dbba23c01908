import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dumpSchema } from "../../src/db/schema-dump.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

it("the committed schema dump matches a freshly migrated database (npm run db:dump)", async () => {
  const committed = await readFile("schema/omega.sql", "utf8");
  expect(await dumpSchema(db.pool)).toBe(committed);
});

it("the Kysely types match the schema (npm run db:types)", async () => {
  const run = promisify(execFile);
  const { stdout, stderr } = await run(
    "npx",
    [
      "kysely-codegen",
      "--verify",
      "--url",
      db.url,
      "--default-schema",
      "omega",
      "--include-pattern",
      "omega.*",
      "--out-file",
      "src/db/schema.ts",
      "--dialect",
      "postgres",
      "--type-mapping",
      '{"int8":"number"}',
    ],
    { env: process.env },
  ).catch((error) => error as { stdout: string; stderr: string });
  // On drift it prints a diff after "✗"; the success line is the only one that says this.
  expect(stdout + stderr).toContain("Generated types are up-to-date");
});
