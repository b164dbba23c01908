import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../config.ts";
import { runningEmbeddedUrl } from "../db/embedded.ts";
import type { Logger } from "../log.ts";

/** Where `omega start` keeps the embedded database, tokens and banner (Default: ./.omega). */
export const DEFAULT_DATA_DIR = ".omega";

/**
 * DATABASE_URL, or else the embedded database of a running `omega start` in `./.omega` — so that
 * `omega migrate`, `serve` and `worker` work beside `npm start` with no setup; says which it used.
 */
export async function databaseUrlOrLocal(logger: Logger, dataDir = DEFAULT_DATA_DIR): Promise<string> {
  if (env.databaseUrl) return env.databaseUrl;
  const url = await runningEmbeddedUrl(dataDir);
  if (!url) {
    throw new Error(
      `DATABASE_URL is not set and no embedded database is running in ${path.resolve(dataDir)} — set DATABASE_URL, or run omega start first`,
    );
  }
  logger.info(
    { database: url.replace(/:[^:@/]+@/, ":***@") },
    `DATABASE_URL is not set: using the embedded database of ${dataDir}`,
  );
  return url;
}

/** OMEGA_ADMIN_TOKEN, or else the one `omega start` keeps in `./.omega/admin-token`. */
export async function adminTokenOrLocal(dataDir = DEFAULT_DATA_DIR): Promise<string | undefined> {
  if (env.adminToken) return env.adminToken;
  const file = path.join(dataDir, "admin-token");
  return existsSync(file) ? (await readFile(file, "utf8")).trim() : undefined;
}
