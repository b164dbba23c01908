/**
 * The periodic-job loop every scheduler worker process runs (see migrations/0124_periodic.sql for
 * why our own loop rather than graphile-worker's crontab). Each tick reads the periodic jobs due by
 * the database's clock, computes their scheduled times with cron-parser, and hands each job's to
 * omega.run_periodic, which launches each time at most once however many workers race.
 */
import type { Pool } from "../db/pool.ts";
import type { Logger } from "../log.ts";
import { dueRuns } from "./cron.ts";

/** How often a worker looks for due periodic jobs: a launch starts at most this late. */
export const PERIODIC_TICK_MS = 500;

interface DueRow {
  cell: string;
  id: string;
  schedule: string;
  time_zone: string;
  starting_deadline_seconds: number;
  next_run_at: Date;
  db_now: Date;
}

/** One pass over the due periodic jobs; returns the jobs launched. */
export async function launchDuePeriodicJobs(pool: Pool, logger?: Logger): Promise<number> {
  const { rows } = await pool.query<DueRow>(
    `select cell, id, schedule, time_zone, starting_deadline_seconds, next_run_at, now() as db_now
     from omega.periodic where not suspended and next_run_at <= now()
     order by next_run_at limit 50`,
  );
  let launched = 0;
  for (const row of rows) {
    try {
      const notBefore = new Date(row.db_now.getTime() - row.starting_deadline_seconds * 1000);
      const { times, next } = dueRuns(row.schedule, row.time_zone, row.next_run_at, row.db_now, notBefore);
      const result = await pool.query<{ n: number }>("select omega.run_periodic($1, $2, $3, $4, $5) as n", [
        row.cell,
        row.id,
        row.next_run_at,
        times,
        next,
      ]);
      launched += Number(result.rows[0]?.n ?? 0);
    } catch (error) {
      logger?.warn({ err: error, periodic: row.id }, "periodic launch failed");
    }
  }
  return launched;
}

/** Runs launchDuePeriodicJobs every `tickMs` until stopped (one pass at a time). */
export function startPeriodicLauncher(options: { pool: Pool; logger: Logger; tickMs?: number }): {
  stop(): Promise<void>;
} {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    running = running.then(() =>
      stopped
        ? undefined
        : launchDuePeriodicJobs(options.pool, options.logger).catch((error) =>
            options.logger.warn({ err: error }, "periodic launcher pass failed"),
          ),
    );
  }, options.tickMs ?? PERIODIC_TICK_MS);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
