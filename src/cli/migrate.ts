import { Command } from "commander";
import { env } from "../config.ts";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { databaseUrlOrLocal } from "../instance/local.ts";
import { logFor } from "../log.ts";

interface MigrateOptions {
  partition?: string[];
  router?: string;
}

/** Repeatable option: each use adds one value. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function migrateCommand(): Command {
  return new Command("migrate")
    .description(
      "apply migrations to DATABASE_URL (or the embedded database of a running omega start), or to every partition (safe when several processes run it at once)",
    )
    .option(
      "--partition <url>",
      "a partition's database, in order p0, p1, … (repeat it; Default: $OMEGA_PARTITIONS, space-separated, or DATABASE_URL)",
      collect,
    )
    .option(
      "--router <url>",
      "also make this database the PL/Proxy router over the partitions (Default: $OMEGA_ROUTER_URL)",
    )
    .action(async (options: MigrateOptions) => {
      const log = logFor("migrate");
      const partitions = options.partition ?? env.partitions ?? [await databaseUrlOrLocal(log)];
      // Partitions one after the other: a failure names the partition it happened on.
      for (const [i, url] of partitions.entries()) {
        const pool = createPool(url, { max: 2, name: "omega-migrate" });
        try {
          const { applied } = await migrate(pool);
          const partition = partitions.length > 1 ? i : undefined;
          // Ids unique across partitions: partition i of N makes only ids ≡ i+1 (mod N), so that
          // the API can route a job id to its partition (migration 0061).
          if (partitions.length > 1)
            await pool.query("select omega.stride_ids($1, $2)", [i, partitions.length]);
          log.info({ partition, applied }, applied.length ? "migrated" : "already up to date");
        } catch (error) {
          if (partitions.length === 1) throw error;
          throw new Error(`partition p${i}: ${(error as Error).message}`, { cause: error });
        } finally {
          await pool.end();
        }
      }
      const router = options.router ?? env.routerUrl;
      if (router) {
        const { installRouter } = await import("../router/install-router.ts");
        await installRouter(router, partitions);
        log.info({ partitions: partitions.length }, "router installed");
      }
    });
}
