import { pino } from "pino";
import pretty from "pino-pretty";

/**
 * One structured logger for the whole process; `LOG_LEVEL` sets its level (Default: info).
 * Pretty, coloured lines when stdout is a terminal (a person is reading), JSON lines otherwise (a
 * collector is); `LOG_FORMAT=json|pretty` overrides the guess. Each part of the system logs through
 * a child with a `component` field (api, worker:batch, agent, start), so one grep finds its lines.
 */
function destination() {
  const format = process.env.LOG_FORMAT ?? (process.stdout.isTTY ? "pretty" : "json");
  if (format !== "pretty") return undefined;
  // Synchronous: the last lines before an exit must not be lost in a worker thread's buffer.
  return pretty({
    sync: true,
    colorize: Boolean(process.stdout.isTTY),
    ignore: "pid,hostname,component",
    translateTime: "HH:MM:ss.l",
    messageFormat: "{if component}[{component}] {end}{msg}",
  });
}

const stream = destination();
export const log = stream
  ? pino({ level: process.env.LOG_LEVEL ?? "info", base: { pid: process.pid } }, stream)
  : pino({ level: process.env.LOG_LEVEL ?? "info", base: { pid: process.pid } });

export type Logger = typeof log;

/** The process's logger for one part of the system: every line carries `component`. */
export function logFor(component: string): Logger {
  return log.child({ component });
}
