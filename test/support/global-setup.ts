import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { databaseUrl } from "../../src/db/database-url.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { createPool } from "../../src/db/pool.ts";
import { loginRolePrefix } from "./roles.ts";

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    templateDatabase: string;
  }
}

/**
 * Once per run: a PostgreSQL server (DATABASE_URL's, or an embedded one in a temporary directory)
 * and a template database migrated once, which every test file clones (fast, isolated, dropped).
 */
export default async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL;
  let stopServer = async () => {};
  let dataDir: string | undefined;
  if (!serverUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), "omega-test-"));
    const server = await startEmbedded(dataDir, { quiet: true });
    serverUrl = server.url;
    stopServer = server.stop;
  }
  const templateDatabase = `omega_template_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${templateDatabase}`);
  const pool = createPool(databaseUrl(serverUrl, templateDatabase), { max: 2 });
  await migrate(pool);
  await pool.end();
  project.provide("serverUrl", serverUrl);
  project.provide("templateDatabase", templateDatabase);

  return async () => {
    // Test files drop their own databases; sweep any a crashed file left, then the template.
    const { rows } = await admin.query<{ datname: string }>(
      "select datname from pg_database where datname like $1 or datname = $2",
      [`omega_test_${process.pid}_%`, templateDatabase],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
    // Login roles of tests that crashed before dropping theirs (the omega_* groups stay: they are
    // the schema's, shared by every database of the server).
    const roles = await admin.query<{ rolname: string }>(
      "select rolname from pg_roles where rolname like $1",
      [`${loginRolePrefix(process.pid)}%`],
    );
    for (const { rolname } of roles.rows) await admin.query(`drop role if exists ${rolname}`);
    await admin.end();
    await stopServer();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
