import { Router } from "express";
import { z } from "zod";
import { withTransaction } from "../../db/pool.ts";
import { quotaList } from "../../db/queries/quota-list.ts";
import { quotaPut } from "../../db/queries/quota-put.ts";
import { shareList } from "../../db/queries/share-list.ts";
import { nameSchema, quotaBodySchema } from "../../domain/job-spec.ts";
import { tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { jsonBody, nameParam, param, validate } from "../request.ts";

const shareQuery = z.strictObject({ cell: nameSchema.optional() });

const QUOTA_BANDS = ["batch", "production"] as const;
type QuotaBand = (typeof QUOTA_BANDS)[number];

function bandParam(band: string): QuotaBand {
  if ((QUOTA_BANDS as readonly string[]).includes(band)) return band as QuotaBand;
  const why = band === "best-effort" ? "best-effort work has no quota" : "there is no such band";
  throw new HttpProblem(422, `${why}; quotas are set for the batch and production bands`, {
    errors: [{ path: "band", message: "must be batch or production" }],
  });
}

export function quotaRoutes({ pool, db, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/quotas")
    .get(auth.any, async (_req, res) => {
      res.json({ quotas: await quotaList(db, tenantScope(res)?.name) });
    })
    .all(methodNotAllowed);

  // Dominant-resource shares (SPEC "Sharing"): a tenant sees its own.
  router
    .route("/v1/shares")
    .get(auth.any, async (req, res) => {
      const { cell } = validate(shareQuery, req.query);
      res.json({ shares: await shareList(db, { tenant: tenantScope(res)?.name, cell }) });
    })
    .all(methodNotAllowed);

  router
    .route("/v1/quotas/:tenant/:cell/:band")
    .put(auth.admin, jsonBody, async (req, res) => {
      const tenant = nameParam(req, "tenant", "tenant");
      const cell = nameParam(req, "cell", "cell");
      const band = bandParam(param(req, "band"));
      const { resources, ...sharing } = validate(quotaBodySchema, req.body);
      const result = await withTransaction(pool, (tx) =>
        quotaPut(tx, tenant, cell, band, resources, sharing),
      );
      if (result.created) res.status(201).location(`/v1/quotas/${tenant}/${cell}/${band}`);
      res.json(result.quota);
    })
    .all(methodNotAllowed);

  return router;
}
