import type { Logger } from "../log.ts";
import { isDatabaseUnavailable } from "./errors.ts";

/**
 * Runs `work` (a process's start-up: migrations, registration, the queue runner), again and again
 * with backoff (0.5 s doubling to 10 s) for as long as it fails because the database is unreachable:
 * a process started while PostgreSQL restarts — or before it is up, under docker compose — waits
 * for it rather than exiting. Any other error is thrown.
 */
export async function whenDatabaseAnswers<T>(logger: Logger, work: () => Promise<T>): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      return await work();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      logger.warn({ err: error, retryInMs: delay }, "database unreachable; waiting for it");
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
