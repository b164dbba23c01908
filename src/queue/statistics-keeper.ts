import type { Pool } from "../db/pool.ts";
import { refreshStatistics } from "../db/queries/statistics-refresh.ts";
import type { Logger } from "../log.ts";

/**
 * How often a worker asks whether a hot table needs fresh statistics. The answer is one read of
 * pg_stat_user_tables; an analyze follows only when a table doubled, halved, or churned a quarter
 * over a minute (0260_statistics_by_growth.sql). Every second, because a table analyzed while empty
 * is read by cell until then: at 1,000 jobs/s the 5 s of the maintenance's cadence let a commit's
 * task lookup grow to 18,000 buffers.
 */
export const STATISTICS_EVERY_MS = 1_000;

/**
 * Keeps the hot path's statistics fresh from this worker process. Every worker runs one; the
 * database lets one of them analyze at a time (the others skip that second).
 */
export function startStatisticsKeeper(pool: Pool, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return; // an analyze of a large table outlasting a second
    running = true;
    refreshStatistics(pool)
      .then((analyzed) => {
        if (analyzed.length > 0) logger.debug({ analyzed }, "statistics refreshed");
      })
      .catch((error) => logger.warn({ err: error }, "statistics refresh failed"))
      .finally(() => {
        running = false;
      });
  }, STATISTICS_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
