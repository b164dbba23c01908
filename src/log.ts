import { pino } from "pino";

/** One structured logger for the whole process; `LOG_LEVEL` sets its level (Default: info). */
export const log = pino({
  level: process.env.LOG_LEVEL ?? "info",
  base: { pid: process.pid },
});

export type Logger = typeof log;
