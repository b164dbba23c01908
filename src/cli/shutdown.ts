import { npmAncestors, watchAncestors } from "../instance/process-tree.ts";
import type { Logger } from "../log.ts";

/**
 * How long a graceful stop may take before the process exits anyway (Default: 20 s, or
 * $OMEGA_SHUTDOWN_TIMEOUT in ms): a pool draining towards a database that is already gone would
 * otherwise wait on TCP timeouts for minutes.
 */
const SHUTDOWN_TIMEOUT_MS = Number(process.env.OMEGA_SHUTDOWN_TIMEOUT) || 20_000;

/**
 * Runs `stop` once on SIGTERM or SIGINT (stop taking work, finish what is in flight, close pools),
 * then exits; at most SHUTDOWN_TIMEOUT_MS later it exits regardless. A second signal exits at once.
 * Also stops when the process that started it is gone: `omega start`'s workers (OMEGA_PARENT_PID),
 * and anything run by `npm start`, whose npm and shell do not pass a SIGTERM on to us.
 * Returns a function that starts the same stop from inside the process.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): (reason: string) => void {
  let stopping = false;
  const handle = (reason: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ reason }, "shutting down");
    const deadline = setTimeout(() => {
      logger.error(`shutdown took over ${SHUTDOWN_TIMEOUT_MS / 1000} s (is the database gone?); exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    stop()
      .then(() => process.exit(0))
      .catch((error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
  };
  // bin/omega.js exits at once on a signal while the CLI loads; from here on, stops drain.
  const whileLoading = (globalThis as { omegaStopWhileLoading?: () => void }).omegaStopWhileLoading;
  if (whileLoading) {
    process.off("SIGTERM", whileLoading);
    process.off("SIGINT", whileLoading);
  }
  process.on("SIGTERM", () => handle("SIGTERM"));
  process.on("SIGINT", () => handle("SIGINT"));
  // Started by `omega start` (which may be killed outright, even before this process was ready to
  // hear about it): once the parent is gone, stop too.
  const parent = Number(process.env.OMEGA_PARENT_PID);
  if (parent > 0) {
    const watch = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(watch);
        handle("parent exited");
      }
    }, 500);
    watch.unref();
  }
  watchAncestors(npmAncestors(), (pid) => handle(`npm process ${pid} exited`));
  return handle;
}
