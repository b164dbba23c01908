import { Command } from "commander";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { databaseUrlOrLocal } from "../instance/local.ts";
import { logFor } from "../log.ts";

export function migrateCommand(): Command {
  return new Command("migrate")
    .description(
      "apply migrations to DATABASE_URL, or to the embedded database of a running omega start (safe when several processes run it at once)",
    )
    .action(async () => {
      const log = logFor("migrate");
      const pool = createPool(await databaseUrlOrLocal(log), { max: 2, name: "omega-migrate" });
      try {
        const { applied } = await migrate(pool);
        log.info({ applied }, applied.length ? "migrated" : "already up to date");
      } finally {
        await pool.end();
      }
    });
}
