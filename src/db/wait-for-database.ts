import type { Logger } from "../log.ts";
import type { Pool } from "./pool.ts";

/**
 * Waits until the database answers, retrying with backoff (0.5 s doubling to 10 s): a process
 * started while PostgreSQL restarts (or before it is up, under docker compose) waits for it rather
 * than exiting.
 */
export async function waitForDatabase(pool: Pool, logger: Logger): Promise<void> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      await pool.query("select 1");
      return;
    } catch (error) {
      logger.warn({ err: error, retryInMs: delay }, "database unreachable; waiting for it");
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
