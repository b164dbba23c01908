import type { Pool, PoolClient } from "pg";
import type { Logger } from "../log.ts";

/** The channel omega.wake notifies on; the payload is "<cell> <scheduler>". */
export const WAKE_CHANNEL = "omega_wake";

export interface WakeListener {
  stop(): Promise<void>;
}

/**
 * Holds one connection of the pool on LISTEN omega_wake and calls `onWake` for every wake-up of
 * `scheduler`. A lost connection (database restart, failover) is replaced with backoff, and every
 * (re)connection calls `onListening`: notifications sent while nobody listened are gone, so the
 * caller looks for work nobody holds then.
 */
export function listenForWakeUps(options: {
  pool: Pool;
  scheduler: string;
  logger: Logger;
  onWake: (cell: string) => void;
  onListening: () => void;
}): WakeListener {
  const { pool, scheduler, logger } = options;
  let client: PoolClient | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  const onNotification = (message: { channel: string; payload?: string }) => {
    if (message.channel !== WAKE_CHANNEL || !message.payload) return;
    const [cell, target] = message.payload.split(" ");
    if (cell && target === scheduler) options.onWake(cell);
  };

  const connect = async (delayMs: number): Promise<void> => {
    if (stopped) return;
    try {
      const c = await pool.connect();
      c.on("notification", onNotification);
      c.once("error", (error) => {
        logger.warn({ err: error }, "wake-up connection lost; reconnecting");
        c.release(error);
        if (client === c) client = undefined;
        schedule(250);
      });
      await c.query(`listen ${WAKE_CHANNEL}`);
      if (stopped) {
        c.release();
        return;
      }
      client = c;
      options.onListening();
    } catch (error) {
      logger.warn({ err: error }, "could not listen for wake-ups; retrying");
      schedule(Math.min(delayMs * 2, 5_000));
    }
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    retry = setTimeout(() => void connect(delayMs), delayMs);
    retry.unref();
  };

  void connect(250);
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (!c) return;
      await c.query(`unlisten ${WAKE_CHANNEL}`).catch(() => {});
      c.release();
    },
  };
}
