import pg from "pg";
import { databaseUrl } from "./database-url.ts";
import { createPool, type Pool } from "./pool.ts";

/** A database cloned from a migrated template, with a pool on it; drop it when done. */
export interface ClonedDatabase {
  name: string;
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** Runs one statement on the server's maintenance connection (CREATE/DROP DATABASE). */
export async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Clones `template` into a new database `name` (a fraction of a second; migrating takes seconds). */
export async function cloneDatabase(
  serverUrl: string,
  name: string,
  template: string,
  pool: { max: number; name: string },
): Promise<ClonedDatabase> {
  await adminQuery(serverUrl, `create database ${name} template ${template}`);
  const url = databaseUrl(serverUrl, name);
  const created = createPool(url, pool);
  return {
    name,
    url,
    pool: created,
    async drop() {
      await created.end();
      await adminQuery(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}
