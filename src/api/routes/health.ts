import { Router } from "express";
import { isMigrated } from "../../db/migrate.ts";
import type { ApiContext } from "../context.ts";
import { registry } from "../metrics.ts";
import { openapi } from "../openapi.ts";
import { methodNotAllowed, sendProblem } from "../problem.ts";

// A readiness probe that hangs is worse than one that says no.
const READY_TIMEOUT_MS = 3000;

async function ready(ctx: ApiContext): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("the database did not answer in time"), READY_TIMEOUT_MS);
  });
  const check = isMigrated(ctx.pool).then(
    (migrated) => (migrated ? undefined : "the database is not migrated (run: omega migrate)"),
    (error: unknown) => {
      ctx.logger.warn({ err: error }, "readiness check failed");
      // A multi-host connection string with no primary among its hosts (a failover in progress).
      if ((error as { code?: string }).code === "08001") return (error as Error).message;
      return "the database is unreachable or not migrated";
    },
  );
  try {
    return await Promise.race([check, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Unauthenticated: liveness, readiness, metrics and the API description. */
export function healthRoutes(ctx: ApiContext): Router {
  const router = Router();
  router
    .route("/healthz")
    .get((_req, res) => {
      res.json({ status: "ok" });
    })
    .all(methodNotAllowed);
  router
    .route("/readyz")
    .get(async (_req, res) => {
      const problem = ctx.shedder.shedding ? "shedding load: the database is saturated" : await ready(ctx);
      if (problem) sendProblem(res, 503, problem);
      else res.json({ status: "ready" });
    })
    .all(methodNotAllowed);
  router
    .route("/metrics")
    .get(async (_req, res) => {
      res.type(registry.contentType).send(await registry.metrics());
    })
    .all(methodNotAllowed);
  router
    .route("/openapi.json")
    .get((_req, res) => {
      res.json(openapi);
    })
    .all(methodNotAllowed);
  return router;
}
