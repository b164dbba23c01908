import type { Logger } from "../log.ts";

/**
 * Runs `stop` once on SIGTERM or SIGINT (stop taking work, finish what is in flight, close pools),
 * then exits. A second signal exits at once.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, "shutting down");
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
  process.on("SIGTERM", handle);
  process.on("SIGINT", handle);
  // Started by `omega start` (which may be killed outright, even before this process was ready to
  // hear about it): once the parent is gone, stop too.
  const parent = Number(process.env.OMEGA_PARENT_PID);
  if (parent > 0) {
    const watch = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(watch);
        handle("SIGTERM");
      }
    }, 500);
    watch.unref();
  }
}
