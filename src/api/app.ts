import express, { type RequestHandler } from "express";
import { createKysely } from "../db/kysely.ts";
import type { Pool } from "../db/pool.ts";
import type { Logger } from "../log.ts";
import { createAuth } from "./auth.ts";
import type { ApiContext } from "./context.ts";
import { LoadShedder } from "./load-shedding.ts";
import { httpMetrics } from "./metrics.ts";
import { notFoundHandler, problemHandler } from "./problem.ts";
import { agentRoutes } from "./routes/agents.ts";
import { cellRoutes } from "./routes/cells.ts";
import { healthRoutes } from "./routes/health.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { machineRoutes } from "./routes/machines.ts";
import { quotaRoutes } from "./routes/quotas.ts";
import { schedulerRoutes } from "./routes/schedulers.ts";
import { tenantRoutes } from "./routes/tenants.ts";
import { SubmissionBatcher } from "./submission-batcher.ts";

export interface AppOptions {
  pool: Pool;
  /** The token that may do everything (OMEGA_ADMIN_TOKEN). */
  adminToken: string;
  logger: Logger;
  /**
   * Requests waiting for a database connection beyond which new ones get 503 at once. (Default:
   * 16 per pool connection: a burst queues for tens of milliseconds, a saturated database sheds.)
   */
  maxWaiting?: number;
}

// Probes and scrapes arrive every few seconds: log them only at debug level.
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

// Query parameters whose values are secrets when a client puts them in a URL (a bearer token as
// ?access_token=, an API key): the request log keeps the name and drops the value.
const SECRET_PARAM = /token|key|secret|passw|auth|sig/i;

/** The URL as the request log shows it: the values of secret-looking parameters replaced. */
export function redactedUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // A malformed escape: judge the name as written.
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${params.join("&")}`;
}

/** One line per request once answered: method, url (secrets redacted), status, milliseconds. */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = {
        method: req.method,
        url: redactedUrl(req.originalUrl),
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
      };
      if (QUIET_PATHS.has(req.path)) logger.debug(line, "request");
      else logger.info(line, "request");
    });
    next();
  };
}

/** The HTTP API of SPEC.md: JSON under /v1, problem+json errors, bearer auth, probes and metrics. */
export function createApp({ pool, adminToken, logger, maxWaiting }: AppOptions): express.Express {
  const shedder = new LoadShedder(pool, maxWaiting ?? 16 * (pool.options.max ?? 10));
  const ctx: ApiContext = {
    pool,
    db: createKysely(pool),
    auth: createAuth(pool, adminToken),
    logger,
    shedder,
    submissions: new SubmissionBatcher(pool, shedder),
  };
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  app.use(requestLog(logger), httpMetrics);
  app.use("/v1", shedder.middleware);
  // Bodies are parsed per route, after authentication: no work for a request that will be refused.
  for (const routes of [
    healthRoutes,
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
  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}
