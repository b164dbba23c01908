import { isDatabaseUnavailable } from "../db/errors.ts";
import type { Logger } from "../log.ts";

/**
 * graphile-worker 0.17 does not await the query that records a failed job (worker.js calls
 * `failJob()` without a catch when failJobBatchDelay is unset): when the connection dies under it —
 * a failover, a restart — the rejection is unhandled and Node would end the whole worker process.
 * The job it was recording stays locked, and the stale sweep wakes its cell again, so losing that
 * write is harmless: log it and carry on. Any other unhandled rejection is still a bug, and fatal.
 */
export function surviveDatabaseOutages(logger: Logger): void {
  process.on("unhandledRejection", (reason) => {
    if (isDatabaseUnavailable(reason)) {
      logger.warn(
        { err: reason },
        "a queue write was lost to a database outage; the stale sweep recovers it",
      );
      return;
    }
    logger.fatal({ err: reason }, "unhandled rejection");
    process.exit(1);
  });
}
