import type { Pool, PoolClient } from "pg";
import type { Logger } from "../log.ts";

/**
 * The channel omega.wake notifies on. The payload is "<cell> <scheduler>" for the scheduler's
 * leading worker, "<cell> <scheduler> *" for every worker of it (omega.wake_every_worker, 0280).
 */
export const WAKE_CHANNEL = "omega_wake";

/** How often a worker that does not lead tries to take the lead (a leader gone, or stopping). */
const TAKE_LEAD_EVERY_MS = 1_000;

export interface WakeListener {
  /** True while this worker answers every wake-up of its scheduler. */
  readonly leading: boolean;
  stop(): Promise<void>;
}

/**
 * Holds one connection of the pool on LISTEN omega_wake and calls `onWake` for the wake-ups of
 * `scheduler` this worker should answer. A lost connection (database restart, failover) is
 * replaced with backoff, and every (re)connection calls `onListening`: notifications sent while
 * nobody listened are gone, so the caller looks for work nobody holds then.
 *
 * The workers of one scheduler do not all answer a submission's wake-up: each would lease, and
 * all but one lease nothing, or each a part, racing for the same machines (0280). The worker that
 * holds the scheduler's session advisory lock on its listening connection leads and answers all of
 * them; the others answer the wake-ups sent to every worker (a backlog shared, the reconcile), all
 * wake-ups of a cell whose backlog they are working through (`alsoAnswers`), and try for the lead
 * every second. A leader that dies frees the lock with its connection; the next leader looks for
 * work nobody holds at once.
 */
export function listenForWakeUps(options: {
  pool: Pool;
  scheduler: string;
  logger: Logger;
  onWake: (cell: string) => void;
  onListening: () => void;
  /** Cells all of whose wake-ups this worker answers though it does not lead (a backlog it shares). */
  alsoAnswers?: (cell: string) => boolean;
}): WakeListener {
  const { pool, scheduler, logger } = options;
  let client: PoolClient | undefined;
  let leading = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let takeLead: NodeJS.Timeout | undefined;

  const onNotification = (message: { channel: string; payload?: string }) => {
    if (message.channel !== WAKE_CHANNEL || !message.payload) return;
    const [cell, target, everyone] = message.payload.split(" ");
    if (!cell || target !== scheduler) return;
    if (leading || everyone === "*" || options.alsoAnswers?.(cell)) options.onWake(cell);
  };

  // One statement that starts with the LISTEN, so that pg_stat_activity shows a listener as one
  // (the benches and the failover drill wait for `listen omega_wake%`); LISTEN again is a no-op.
  const listenAndLead = (c: PoolClient) =>
    `listen ${WAKE_CHANNEL}; select pg_try_advisory_lock(hashtextextended(${c.escapeLiteral(
      `omega.wake-leader ${scheduler}`,
    )}, 0)) as leading`;
  const tryToLead = async (c: PoolClient): Promise<boolean> => {
    const results = (await c.query(listenAndLead(c))) as unknown as { rows: { leading: boolean }[] }[];
    return results[1]?.rows[0]?.leading === true;
  };

  const connect = async (delayMs: number): Promise<void> => {
    if (stopped) return;
    try {
      const c = await pool.connect();
      c.on("notification", onNotification);
      c.once("error", (error) => {
        logger.warn({ err: error }, "wake-up connection lost; reconnecting");
        c.release(error);
        if (client === c) {
          client = undefined;
          leading = false;
          clearInterval(takeLead);
        }
        schedule(250);
      });
      leading = await tryToLead(c);
      if (stopped) {
        c.release(true);
        return;
      }
      client = c;
      if (!leading) followUntilLeading(c);
      options.onListening();
    } catch (error) {
      logger.warn({ err: error }, "could not listen for wake-ups; retrying");
      schedule(Math.min(delayMs * 2, 5_000));
    }
  };
  const followUntilLeading = (c: PoolClient) => {
    let trying = false;
    takeLead = setInterval(() => {
      if (trying || client !== c) return;
      trying = true;
      tryToLead(c)
        .then((won) => {
          if (!won || client !== c || stopped) return;
          leading = true;
          clearInterval(takeLead);
          logger.info({ scheduler }, "this worker now answers every wake-up of its scheduler");
          // Wake-ups sent while no worker led were answered by none.
          options.onListening();
        })
        .catch(() => {}) // the connection's error handler reconnects
        .finally(() => {
          trying = false;
        });
    }, TAKE_LEAD_EVERY_MS);
    takeLead.unref();
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    retry = setTimeout(() => void connect(delayMs), delayMs);
    retry.unref();
  };

  void connect(250);
  return {
    get leading() {
      return leading;
    },
    async stop() {
      stopped = true;
      clearTimeout(retry);
      clearInterval(takeLead);
      const c = client;
      client = undefined;
      leading = false;
      if (!c) return;
      // The lead goes with the connection: closed, not given back to the pool holding the lock.
      await c.query(`unlisten ${WAKE_CHANNEL}`).catch(() => {});
      c.release(true);
    },
  };
}
