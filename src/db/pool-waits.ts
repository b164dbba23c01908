import type { Pool } from "./pool.ts";

export interface PoolWaits {
  /** How long the longest-waiting request has waited for a connection so far (0 if none waits). */
  oldestWaitMs(): number;
}

/**
 * Times every wait for a connection of `pool` (pool.query takes its connection through
 * pool.connect, so queries are counted too). The count of waiters alone says little — 300 waiting
 * are a millisecond of work for a quiet database and seconds for a starved one — but how long the
 * oldest has waited says how far behind the database is, now.
 */
export function trackPoolWaits(pool: Pool): PoolWaits {
  const waiting = new Set<{ since: number }>();
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  const tracked = (...args: unknown[]) => {
    const wait = { since: performance.now() };
    waiting.add(wait);
    const callback = args[0];
    if (typeof callback === "function") {
      return connect((...result: unknown[]) => {
        waiting.delete(wait);
        callback(...result);
      });
    }
    return (connect() as Promise<unknown>).finally(() => waiting.delete(wait));
  };
  (pool as unknown as { connect: typeof tracked }).connect = tracked;
  return {
    oldestWaitMs() {
      // A Set iterates in insertion order: the first entry is the oldest wait still under way.
      for (const wait of waiting) return performance.now() - wait.since;
      return 0;
    },
  };
}
