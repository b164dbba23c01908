import { adminQuery, type ClonedDatabase, cloneDatabase } from "../db/cloned-database.ts";
import { databaseUrl } from "../db/database-url.ts";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";

export type BenchDatabase = ClonedDatabase;

export interface BenchDatabases {
  /** A fresh migrated database for one measurement (a copy of a template migrated once). */
  create(label: string): Promise<BenchDatabase>;
  /** Drops the template. */
  close(): Promise<void>;
}

/**
 * Fresh databases for the measurements of one run, each cloned from a template migrated once (a
 * clone takes a fraction of a second; migrating takes seconds). Names start with this process's
 * id, so leftovers of a killed run are recognisable.
 */
export function benchDatabases(serverUrl: string): BenchDatabases {
  const prefix = `omega_bench_${process.pid}`;
  const template = `${prefix}_template`;
  let count = 0;
  let migrated: Promise<void> | undefined;
  const migrateTemplate = async () => {
    await adminQuery(serverUrl, `drop database if exists ${template} with (force)`);
    await adminQuery(serverUrl, `create database ${template}`);
    const pool = createPool(databaseUrl(serverUrl, template), { max: 2, name: "omega-bench" });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
  };
  return {
    async create(label) {
      migrated ??= migrateTemplate();
      await migrated;
      const name = `${prefix}_${count++}_${label.replace(/[^a-z0-9_]/g, "_")}`;
      return cloneDatabase(serverUrl, name, template, { max: 8, name: "omega-bench" });
    },
    async close() {
      if (migrated) await adminQuery(serverUrl, `drop database if exists ${template} with (force)`);
    },
  };
}
