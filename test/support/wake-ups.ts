import type { Pool, PoolClient } from "pg";

export interface WakeUpRecorder {
  /** The payloads ("<cell> <scheduler>") heard since the last call, once the server has sent them. */
  take(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Listens on omega_wake, as a worker does, and records what it hears. */
export async function recordWakeUps(pool: Pool): Promise<WakeUpRecorder> {
  const client: PoolClient = await pool.connect();
  let heard: string[] = [];
  client.on("notification", (m) => {
    if (m.channel === "omega_wake") heard.push(m.payload ?? "");
  });
  await client.query("listen omega_wake");
  return {
    async take() {
      // The server sends notifications before it answers a query: one round trip flushes them.
      await client.query("select 1");
      const taken = heard;
      heard = [];
      return taken;
    },
    async stop() {
      await client.query("unlisten omega_wake").catch(() => {});
      client.release();
    },
  };
}
