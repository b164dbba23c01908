import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { submitTransactionsFromEnv } from "../config.ts";
import type { Pool } from "../db/pool.ts";
import { startEventFeed } from "../events/feed.ts";
import type { Logger } from "../log.ts";
import { LISTEN_BACKLOG } from "../net/listen-backlog.ts";
import { createApp } from "./app.ts";
import type { Principal } from "./auth.ts";
import type { PrincipalCache } from "./principal-cache.ts";
import type { TokenBuckets } from "./rate-limit.ts";

export interface ServerOptions {
  pool: Pool;
  adminToken: string;
  /** 0 picks a free port. */
  port: number;
  /** (Default: every interface.) */
  host?: string;
  logger: Logger;
  /** How long close() lets in-flight requests finish before cutting them off. (Default: 10000.) */
  shutdownTimeoutMs?: number;
  /** See AppOptions. */
  maxWaiting?: number;
  /** See AppOptions. */
  submissionQueueDelayMs?: number;
  /** See AppOptions. (Default: OMEGA_SUBMIT_TRANSACTIONS.) */
  submissionTransactions?: number;
  /** See AppOptions. */
  submissionBuckets?: TokenBuckets;
  /** See AppOptions. */
  principals?: PrincipalCache<Principal>;
}

export interface RunningServer {
  url: string;
  /** Stops accepting connections and resolves once in-flight requests have been answered. */
  close(): Promise<void>;
}

function urlOf(address: AddressInfo, host: string | undefined): string {
  const wildcard = !host || host === "0.0.0.0" || host === "::";
  const shown = wildcard ? "127.0.0.1" : address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${shown}:${address.port}`;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { pool, adminToken, port, host, logger } = options;
  const server = createServer();
  // Responses being written, so that close() can tell their connections not to stay open.
  const active = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;
  server.on("request", (_req, res: ServerResponse) => {
    if (closing) res.setHeader("Connection", "close");
    active.add(res);
    res.on("close", () => active.delete(res));
  });
  // After the listener above, so that it sees every response before the app writes to it.
  const feed = startEventFeed(pool, logger);
  server.on(
    "request",
    createApp({
      pool,
      adminToken,
      logger,
      maxWaiting: options.maxWaiting,
      submissionQueueDelayMs: options.submissionQueueDelayMs,
      submissionTransactions: options.submissionTransactions ?? submitTransactionsFromEnv(),
      feed,
      submissionBuckets: options.submissionBuckets,
      principals: options.principals,
    }),
  );

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => {
      feed.close().then(() => reject(error), reject);
    });
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const url = urlOf(server.address() as AddressInfo, host);
  logger.info({ url }, "HTTP API listening");

  function close(): Promise<void> {
    // Event streams never finish by themselves: they are ended first, and their clients reconnect elsewhere.
    closing ??= feed.close().then(
      () =>
        new Promise<void>((resolve, reject) => {
          for (const res of active) if (!res.headersSent) res.setHeader("Connection", "close");
          const force = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
          force.unref();
          server.close((error) => {
            clearTimeout(force);
            if (error) reject(error);
            else resolve();
          });
          // Idle keep-alive connections would hold close() open; busy ones close after their response.
          server.closeIdleConnections();
          for (const res of active)
            if (res.getHeader("content-type")?.toString().startsWith("text/event-stream")) res.end();
        }),
    );
    return closing;
  }
  return { url, close };
}
