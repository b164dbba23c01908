/**
 * Cron schedules in a time zone, as pure functions over explicit instants (no clock is read here:
 * the launcher passes the database's now, tests pass any instant). Parsing and time-zone arithmetic
 * are cron-parser's (a well-kept parser with IANA time zones and DST handling).
 */
import { CronExpressionParser } from "cron-parser";

/** At most this many scheduled times are handed to one launch step (a long outage, a fast schedule). */
export const MAX_TIMES_PER_STEP = 100;

/**
 * Checks a schedule: five fields (minute hour day-of-month month day-of-week), or six with seconds
 * first (an extension, for sub-minute schedules). Returns an error message, or undefined when valid.
 */
export function scheduleError(schedule: string, timeZone: string): string | undefined {
  const fields = schedule.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return "schedule: five cron fields are required (minute hour day-of-month month day-of-week)";
  }
  if (!validTimeZone(timeZone)) return `timeZone: ${JSON.stringify(timeZone)} is not an IANA time zone`;
  try {
    CronExpressionParser.parse(schedule, { tz: timeZone, strict: false });
    return undefined;
  } catch (error) {
    return `schedule: ${(error as Error).message}`;
  }
}

function validTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The first scheduled time strictly after `after`. */
export function nextRun(schedule: string, timeZone: string, after: Date): Date {
  return CronExpressionParser.parse(schedule, { tz: timeZone, currentDate: after }).next().toDate();
}

/**
 * The scheduled times `from` (inclusive) to `until` (inclusive), oldest first, keeping only the
 * last `MAX_TIMES_PER_STEP` and none before `notBefore` (older launches are past their starting
 * deadline), and the first scheduled time after `until`.
 */
export function dueRuns(
  schedule: string,
  timeZone: string,
  from: Date,
  until: Date,
  notBefore: Date,
): { times: Date[]; next: Date } {
  // Start just before `from`, so that `from` itself is a candidate; skip what the deadline excludes.
  const start = new Date(Math.max(from.getTime(), notBefore.getTime()) - 1);
  const times: Date[] = [];
  const expression = CronExpressionParser.parse(schedule, { tz: timeZone, currentDate: start });
  for (;;) {
    const t = expression.next().toDate();
    if (t.getTime() > until.getTime()) return { times, next: t };
    times.push(t);
    if (times.length > MAX_TIMES_PER_STEP) times.shift();
  }
}
