import express, { type RequestHandler } from "express";
import { createKysely } from "../db/kysely.ts";
import type { Pool } from "../db/pool.ts";
import type { EventFeed } from "../events/feed.ts";
import type { Logger } from "../log.ts";
import { collectClusterFrom } from "../metrics/cluster.ts";
import { createAuth, type Principal } from "./auth.ts";
import type { ApiContext } from "./context.ts";
import { LoadShedder } from "./load-shedding.ts";
import { httpMetrics } from "./metrics.ts";
import type { PrincipalCache } from "./principal-cache.ts";
import { notFoundHandler, problemHandler } from "./problem.ts";
import type { TokenBuckets } from "./rate-limit.ts";
import { agentRoutes } from "./routes/agents.ts";
import { cellRoutes } from "./routes/cells.ts";
import { docsRoutes } from "./routes/docs.ts";
import { eventRoutes } from "./routes/events.ts";
import { healthRoutes } from "./routes/health.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { machineRoutes } from "./routes/machines.ts";
import { periodicRoutes } from "./routes/periodic.ts";
import { quotaRoutes } from "./routes/quotas.ts";
import { rebalanceRoutes } from "./routes/rebalance.ts";
import { schedulerRoutes } from "./routes/schedulers.ts";
import { tenantRoutes } from "./routes/tenants.ts";
import { workflowRoutes } from "./routes/workflows.ts";
import { SubmissionBatcher } from "./submission-batcher.ts";
import { consoleRoutes } from "./ui/routes.ts";

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
  /** How long a submission may expect to wait for its transaction before it is refused (ms). */
  submissionQueueDelayMs?: number;
  /** Submission transactions under way at once (OMEGA_SUBMIT_TRANSACTIONS; default: see SubmissionBatcher). */
  submissionTransactions?: number;
  /** New events, for the streams (?follow=true). Without it, streams send history only. */
  feed?: EventFeed;
  /**
   * Tenants' submission rate buckets shared with other APIs of this process: under `omega serve`
   * over partitions a tenant's jobs per minute count over every partition. (Default: this API's own.)
   */
  submissionBuckets?: TokenBuckets;
  /** Tokens checked lately, shared likewise (see createAuth). (Default: this API's own.) */
  principals?: PrincipalCache<Principal>;
}

// Probes and scrapes arrive every few seconds, and every machine's agent polls its claims and
// heartbeats every second or two: all routine, logged at debug level only.
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);
const AGENT_POLL = /^\/v1\/cells\/[^/]+\/machines\/[^/]+\/(heartbeat|claims)$/;

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
      const routine = QUIET_PATHS.has(req.path) || AGENT_POLL.test(req.path) || req.path.startsWith("/ui/");
      if (routine && res.statusCode < 400) logger.debug(line, "request");
      else logger.info(line, "request");
    });
    next();
  };
}

const noFeed: EventFeed = { subscribe: () => () => {}, close: async () => {} };

/** The HTTP API of SPEC.md: JSON under /v1, problem+json errors, bearer auth, probes and metrics. */
export function createApp({
  pool,
  adminToken,
  logger,
  maxWaiting,
  submissionQueueDelayMs,
  submissionTransactions,
  feed,
  submissionBuckets,
  principals,
}: AppOptions): express.Express {
  const shedder = new LoadShedder(pool, maxWaiting ?? 16 * (pool.options.max ?? 10));
  const ctx: ApiContext = {
    pool,
    db: createKysely(pool),
    auth: createAuth(pool, adminToken, principals),
    logger,
    shedder,
    submissions: new SubmissionBatcher(pool, shedder, {
      ...(submissionQueueDelayMs === undefined ? {} : { maxQueueDelayMs: submissionQueueDelayMs }),
      ...(submissionTransactions === undefined ? {} : { maxInFlight: submissionTransactions }),
    }),
    submissionBuckets,
  };
  collectClusterFrom(pool);
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  app.use(requestLog(logger), httpMetrics);
  app.use("/v1", shedder.middleware);
  // Bodies are parsed per route, after authentication: no work for a request that will be refused.
  // Job routes first: express tries each route in turn, and submissions are most of the traffic.
  for (const routes of [
    jobRoutes,
    healthRoutes,
    docsRoutes,
    consoleRoutes,
    cellRoutes,
    machineRoutes,
    tenantRoutes,
    quotaRoutes,
    workflowRoutes,
    periodicRoutes,
    schedulerRoutes,
    rebalanceRoutes,
    agentRoutes,
  ]) {
    app.use(routes(ctx));
  }
  app.use(eventRoutes(ctx, feed ?? noFeed));
  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}
