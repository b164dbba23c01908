import type { Runner } from "graphile-worker";
import type { Logger } from "../log.ts";

export interface SupervisedRunner {
  /** Stops the current runner (running jobs finish) and any further restart. */
  stop(): Promise<void>;
}

/**
 * Keeps a graphile-worker runner running: when it dies (its promise rejects, or it cannot start
 * because the database is down), it is started again with exponential backoff (1 s doubling up to
 * 30 s, back to 1 s once one starts). Resolves once the first runner has started, so that a worker
 * that cannot reach its database at all still says so.
 */
export async function superviseRunner(
  start: () => Promise<Runner>,
  logger: Logger,
  delays: { firstMs: number; maxMs: number } = { firstMs: 1_000, maxMs: 30_000 },
): Promise<SupervisedRunner> {
  let current: Runner | undefined = await start();
  let stopping = false;
  let interrupt = () => {};
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const loop = (async () => {
    let delay = delays.firstMs;
    while (!stopping) {
      try {
        if (!current) {
          const runner = await start();
          if (stopping) {
            await runner.stop();
            return;
          }
          current = runner;
          delay = delays.firstMs;
          logger.info("graphile-worker runner restarted");
        }
        await current.promise;
        if (stopping) return;
        logger.warn("graphile-worker runner ended by itself; restarting");
      } catch (error) {
        if (stopping) return;
        logger.error({ err: error, retryInMs: delay }, "graphile-worker runner failed; restarting");
      }
      current = undefined;
      await pause(delay);
      delay = Math.min(delay * 2, delays.maxMs);
    }
  })();

  return {
    async stop() {
      stopping = true;
      interrupt();
      await current?.stop().catch((error) => logger.warn({ err: error }, "runner stop failed"));
      await loop;
    },
  };
}
