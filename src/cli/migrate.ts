import { Command } from "commander";
import { env } from "../config.ts";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { log } from "../log.ts";

export function migrateCommand(): Command {
  return new Command("migrate")
    .description("apply migrations to DATABASE_URL (safe when several processes run it at once)")
    .action(async () => {
      if (!env.databaseUrl) throw new Error("DATABASE_URL is required");
      const pool = createPool(env.databaseUrl, { max: 2, name: "omega-migrate" });
      try {
        const { applied } = await migrate(pool);
        log.info({ applied }, applied.length ? "migrated" : "already up to date");
      } finally {
        await pool.end();
      }
    });
}
