import pg from "pg";
import type { ConnectionTargets } from "./connection-string.ts";
import { isWritable, noServer, type PrimaryLocator, primaryLocator } from "./primary-locator.ts";

type ConnectCallback = ((error: Error) => void) | ((error: null, client: pg.Client) => void);

/**
 * A node-postgres Client class for a pool over a multi-host connection string: each new connection
 * goes to the host the locator names and, with target_session_attrs=read-write, checks on the
 * connection itself that the server still takes writes (the probe and the connect can straddle a
 * failover). A connection that fails either way makes the locator look again, and the pool's caller
 * sees an 08001/connection error, which every retry loop here treats as "the database is away".
 *
 * Connections already open are not moved: a failover ends them (the old primary is gone or restarts
 * as a standby), and the pool replaces them through this class.
 */
export function multiHostClient(targets: ConnectionTargets): {
  Client: typeof pg.Client;
  locator: PrimaryLocator;
} {
  const locator = primaryLocator(targets);
  const first = targets.targets[0];
  if (!first) throw new Error("the connection string names no host");

  class MultiHostClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionString: first?.url });
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ConnectCallback): void;
    override connect(callback?: ConnectCallback): Promise<pg.Client> | undefined {
      const connecting = this.connectToPrimary().then(() => this as pg.Client);
      if (!callback) return connecting;
      connecting.then(
        (client) => (callback as (error: null, client: pg.Client) => void)(null, client),
        (error: Error) => (callback as (error: Error) => void)(error),
      );
      return undefined;
    }

    private async connectToPrimary(): Promise<void> {
      const target = await locator.current();
      // Where pg's Client connects (host and port were read from the first URL at construction).
      const self = this as unknown as { host: string; port: number; connectionParameters: pg.ClientConfig };
      self.host = target.host;
      self.port = target.port;
      self.connectionParameters.host = target.host;
      self.connectionParameters.port = target.port;
      try {
        await super.connect();
      } catch (error) {
        locator.forget(target);
        throw error;
      }
      if (locator.readWrite && !(await isWritable(this).catch(() => false))) {
        locator.forget(target);
        await this.end().catch(() => {});
        throw noServer(targets);
      }
    }
  }
  return { Client: MultiHostClient, locator };
}
