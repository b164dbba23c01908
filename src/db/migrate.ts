import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { runMigrations as runQueueMigrations } from "graphile-worker";
import type { Pool } from "./pool.ts";

const migrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url));
// Any fixed 64-bit key works; every omega process migrating the same database takes this one.
const MIGRATION_LOCK = 7_235_001_913;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (name) => {
      const sql = await readFile(migrationsDir + name, "utf8");
      return {
        version: Number(name.slice(0, 4)),
        name,
        sql,
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    }),
  );
}

/**
 * Applies graphile-worker's schema, then ours, each migration in its own transaction. Safe when many
 * processes start at once: they queue on one advisory lock and find the work done. A migration
 * that was applied and then edited is refused: migrations only move forward.
 */
export async function migrate(pool: Pool): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const client = await pool.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    // Our functions call graphile_worker.add_job, so the queue's schema comes first.
    await runQueueMigrations({ pgPool: pool });
    await client.query(`
      create schema if not exists omega_meta;
      create table if not exists omega_meta.migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      "select version, name, checksum from omega_meta.migrations",
    );
    const done = new Map(rows.map((r) => [r.version, r]));
    const applied: string[] = [];
    for (const m of migrations) {
      const previous = done.get(m.version);
      if (previous) {
        if (previous.checksum !== m.checksum) {
          throw new Error(
            `migration ${m.name} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await client.query("begin");
      try {
        await client.query(m.sql);
        await client.query(
          "insert into omega_meta.migrations (version, name, checksum) values ($1, $2, $3)",
          [m.version, m.name, m.checksum],
        );
        await client.query("commit");
      } catch (error) {
        await client.query("rollback");
        throw new Error(`migration ${m.name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(m.name);
    }
    // graphile-worker upgrades itself above and may add queue tables: the scheduler role gets them too
    // (a no-op when nothing is missing; absent before migration 0009).
    const { rows: hook } = await client.query<{ present: boolean }>(
      "select to_regprocedure('omega.grant_queue_access()') is not null as present",
    );
    if (hook[0]?.present) await client.query("call omega.grant_queue_access()");
    return { applied };
  } finally {
    await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
}

/** True when every migration on disk has been applied (what /readyz reports). */
export async function isMigrated(pool: Pool): Promise<boolean> {
  const migrations = await loadMigrations();
  try {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from omega_meta.migrations where version = any($1)",
      [migrations.map((m) => m.version)],
    );
    return rows[0]?.n === migrations.length;
  } catch (error) {
    // A database never migrated has no bookkeeping table yet.
    if (sqlState(error) === "42P01") return false;
    throw error;
  }
}

/**
 * For processes that run under a least-privilege role (omega worker, omega serve): returns when the
 * schema is current, migrating it only when it is not, which succeeds only for the owner. Any other
 * role gets a clear error instead of a permission failure halfway through.
 */
export async function ensureMigrated(pool: Pool): Promise<void> {
  // A role without access to the bookkeeping (permission denied) is as good as not migrated here:
  // migrate() then says so, or migrates if this is the owner after all.
  const migrated = await isMigrated(pool).catch((error: unknown) => {
    if (sqlState(error) === "42501") return false;
    throw error;
  });
  if (migrated) return;
  try {
    await migrate(pool);
  } catch (error) {
    if (sqlState(error) !== "42501") throw error;
    throw new Error(
      "schema not migrated; run omega migrate as the owner (this database role may not migrate: " +
        `${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** The SQLSTATE of a database error, also when it is the cause of a wrapping error. */
function sqlState(error: unknown): string | undefined {
  for (let e = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    if ("code" in e && typeof e.code === "string") return e.code;
  }
  return undefined;
}
