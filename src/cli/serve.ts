import { Command } from "commander";
import type { Principal } from "../api/auth.ts";
import type { RunningServer } from "../api/server.ts";
import { env } from "../config.ts";
import { ensureMigrated } from "../db/migrate.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { whenDatabaseAnswers } from "../db/when-database-answers.ts";
import { adminTokenOrLocal, databaseUrlOrLocal } from "../instance/local.ts";
import { type Logger, logFor } from "../log.ts";
import { API_CONNECTIONS } from "./api-connections.ts";
import { positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";

interface ServeOptions {
  port: number;
  host: string;
  router?: string;
  partition?: string[];
}

/** Repeatable option: each use adds one value. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function serveCommand(): Command {
  return (
    new Command("serve")
      .description(
        "run the HTTP API and the web console only (needs DATABASE_URL and OMEGA_ADMIN_TOKEN, or a running omega start in ./.omega); with a router, over every partition, routing each request by cell",
      )
      .option("--port <port>", "port to listen on (Default: $PORT or 8080)", positiveInt, env.port)
      // Loopback unless told otherwise: exposing the API is a decision, not a default.
      .option(
        "--host <host>",
        "address to listen on; 0.0.0.0 for every interface (Default: 127.0.0.1)",
        "127.0.0.1",
      )
      .option(
        "--router <url>",
        "the PL/Proxy router database whose cell directory routes requests over the partitions (Default: $OMEGA_ROUTER_URL)",
      )
      .option(
        "--partition <url>",
        "a partition's database, in order p0, p1, … as given to omega migrate (repeat it; Default: $OMEGA_PARTITIONS)",
        collect,
      )
      .action(async (options: ServeOptions) => {
        const log = logFor("api");
        const adminToken = await adminTokenOrLocal();
        if (!adminToken) throw new Error("OMEGA_ADMIN_TOKEN is required");
        const router = options.router ?? env.routerUrl;
        const partitions = options.partition ?? env.partitions;
        if (router || options.partition) {
          if (!router || !partitions?.length)
            throw new Error("routing by cell needs the router and the partitions");
          await servePartitions({ ...options, router, partitions, adminToken, log });
          return;
        }
        // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
        const { startServer } = await import("../api/server.ts");
        const databaseUrl = await databaseUrlOrLocal(log);
        const pool = createPool(databaseUrl, { max: API_CONNECTIONS, name: "omega-api" });
        // A process that cannot start must not linger on its pool's connections.
        await whenDatabaseAnswers(log, async () => {
          await ensureMigrated(pool);
          const { openWarmConnections, warmSubmission } = await import("../db/warm-up.ts");
          await openWarmConnections(pool, API_CONNECTIONS, warmSubmission, log);
        }).catch(async (error: unknown) => {
          await pool.end();
          throw error;
        });
        const server = await startServer({
          pool,
          adminToken,
          port: options.port,
          host: options.host,
          logger: log,
        }).catch(async (error: unknown) => {
          await pool.end();
          throw error;
        });
        onShutdown(log, async () => {
          await server.close();
          await pool.end();
        });
      })
  );
}

/**
 * One API per partition, each on its own pool and on a loopback port, and in front of them the
 * server that routes every request by cell (src/api/partitioned/front.ts).
 */
async function servePartitions(options: {
  port: number;
  host: string;
  router: string;
  partitions: string[];
  adminToken: string;
  log: Logger;
}): Promise<void> {
  const { log, partitions } = options;
  const { startServer } = await import("../api/server.ts");
  const { startFront } = await import("../api/partitioned/front.ts");
  const { PartitionMap } = await import("../api/partitioned/partition-map.ts");
  const { TenantReplicator } = await import("../api/partitioned/tenants.ts");
  const n = partitions.length;
  if ((n & (n - 1)) !== 0) throw new Error(`the partitions are a power of two (PL/Proxy's rule); got ${n}`);
  // The pool of 20 a lone API has, shared out (at least 5 each).
  const pools: Pool[] = partitions.map((url, i) =>
    createPool(url, { max: Math.max(5, Math.ceil(20 / n)), name: `omega-api-p${i}` }),
  );
  const routerPool = createPool(options.router, { max: 5, name: "omega-api-router" });
  const endPools = () => Promise.all([...pools, routerPool].map((p) => p.end().catch(() => {})));
  try {
    await whenDatabaseAnswers(log, () => Promise.all(pools.map((p) => ensureMigrated(p))));
    await whenDatabaseAnswers(log, () => routerPool.query("select omega_router.partition_of('')"));
  } catch (error) {
    await endPools();
    throw error;
  }
  // Tokens checked lately, shared by the partitions' APIs: a tenant is the same in each, and once a
  // token rotated (or a limit changed) on p0 is copied everywhere, every partition forgets it.
  const { PrincipalCache } = await import("../api/principal-cache.ts");
  const principals = new PrincipalCache<Principal>();
  const tenants = new TenantReplicator(pools, log, () => principals.clear());
  // Tenants a failed copy left behind reach every partition now.
  const synced = await tenants.syncAll();
  log.info({ tenants: synced }, "tenants copied to every partition");
  const { TokenBuckets } = await import("../api/rate-limit.ts");
  // One rate per tenant over every partition, as with one database.
  const submissionBuckets = new TokenBuckets();
  const apis: RunningServer[] = [];
  for (const [i, pool] of pools.entries()) {
    apis.push(
      await startServer({
        pool,
        adminToken: options.adminToken,
        port: 0,
        host: "127.0.0.1",
        logger: log.child({ partition: i }),
        submissionBuckets,
        principals,
      }),
    );
  }
  // Every API registered its own pool for the cluster gauges; /metrics (any API's: one registry
  // per process) reads them all.
  const { collectClusterFrom } = await import("../metrics/cluster.ts");
  collectClusterFrom(...pools);
  const front = await startFront({
    apis: apis.map((a) => a.url),
    map: new PartitionMap(routerPool, n),
    tenants,
    logger: log,
    port: options.port,
    host: options.host,
  });
  onShutdown(log, async () => {
    await front.close();
    await Promise.all(apis.map((a) => a.close()));
    await endPools();
  });
}
