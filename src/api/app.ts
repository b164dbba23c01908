import express, { type RequestHandler } from "express";
import { createKysely } from "../db/kysely.ts";
import type { Pool } from "../db/pool.ts";
import type { EventFeed } from "../events/feed.ts";
import type { Logger } from "../log.ts";
import { collectClusterFrom } from "../metrics/cluster.ts";
import { createAuth } from "./auth.ts";
import type { ApiContext } from "./context.ts";
import { httpMetrics } from "./metrics.ts";
import { notFoundHandler, problemHandler } from "./problem.ts";
import { agentRoutes } from "./routes/agents.ts";
import { cellRoutes } from "./routes/cells.ts";
import { docsRoutes } from "./routes/docs.ts";
import { eventRoutes } from "./routes/events.ts";
import { healthRoutes } from "./routes/health.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { machineRoutes } from "./routes/machines.ts";
import { quotaRoutes } from "./routes/quotas.ts";
import { schedulerRoutes } from "./routes/schedulers.ts";
import { tenantRoutes } from "./routes/tenants.ts";
import { consoleRoutes } from "./ui/routes.ts";

export interface AppOptions {
  pool: Pool;
  /** The token that may do everything (OMEGA_ADMIN_TOKEN). */
  adminToken: string;
  logger: Logger;
  /** New events, for the streams (?follow=true). Without it, streams send history only. */
  feed?: EventFeed;
}

// Probes and scrapes arrive every few seconds, and every machine's agent polls its claims and
// heartbeats every second or two: all routine, logged at debug level only.
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);
const AGENT_POLL = /^\/v1\/cells\/[^/]+\/machines\/[^/]+\/(heartbeat|claims)$/;

/** One line per request once answered: method, url, status, milliseconds. */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = {
        method: req.method,
        url: req.originalUrl,
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
      };
      const routine = QUIET_PATHS.has(req.path) || AGENT_POLL.test(req.path) || req.path.startsWith("/ui/");
      if (routine && res.statusCode < 400) logger.debug(line, "request");
      else logger.info(line, "request");
    });
    next();
  };
}

const noFeed: EventFeed = { subscribe: () => () => {}, close: async () => {} };

/** The HTTP API of SPEC.md: JSON under /v1, problem+json errors, bearer auth, probes and metrics. */
export function createApp({ pool, adminToken, logger, feed }: AppOptions): express.Express {
  const ctx: ApiContext = { pool, db: createKysely(pool), auth: createAuth(pool, adminToken), logger };
  collectClusterFrom(pool);
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  app.use(requestLog(logger), httpMetrics);
  // Bodies are parsed per route, after authentication: no work for a request that will be refused.
  for (const routes of [
    healthRoutes,
    docsRoutes,
    consoleRoutes,
    cellRoutes,
    machineRoutes,
    tenantRoutes,
    quotaRoutes,
    jobRoutes,
    schedulerRoutes,
    agentRoutes,
  ]) {
    app.use(routes(ctx));
  }
  app.use(eventRoutes(ctx, feed ?? noFeed));
  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}
