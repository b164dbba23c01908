import { Router } from "express";
import { withTransaction } from "../../db/pool.ts";
import { tenantCreate } from "../../db/queries/tenant-create.ts";
import { tenantLimitsGet, tenantLimitsSet } from "../../db/queries/tenant-limits.ts";
import { tenantList } from "../../db/queries/tenant-list.ts";
import { tenantRotateToken } from "../../db/queries/tenant-rotate-token.ts";
import { tenantWeightSet } from "../../db/queries/tenant-weight-set.ts";
import { tenantBodySchema, tenantWeightSchema } from "../../domain/job-spec.ts";
import { newTenantToken } from "../../domain/tokens.ts";
import { tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { jsonBody, nameParam, validate } from "../request.ts";

export function tenantRoutes({ pool, db, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/tenants")
    .get(auth.admin, async (_req, res) => {
      res.json({ tenants: await tenantList(db) });
    })
    .post(auth.admin, jsonBody, async (req, res) => {
      const { name, limits } = validate(tenantBodySchema, req.body);
      const { token, hash } = newTenantToken();
      // Created with its limits or not at all.
      const tenant = await withTransaction(pool, async (tx) => {
        const row = await tenantCreate(tx, name, hash);
        if (!row) throw new HttpProblem(409, `tenant "${name}" already exists`);
        return {
          ...row,
          limits: await (limits === undefined
            ? tenantLimitsGet(tx, name)
            : tenantLimitsSet(tx, name, limits)),
        };
      });
      // The only time the token is shown: only its hash is stored.
      res
        .status(201)
        .setHeader("Cache-Control", "no-store")
        .json({ ...tenant, token });
    })
    .all(methodNotAllowed);

  // Its weight in fair sharing (SPEC "Sharing").
  router
    .route("/v1/tenants/:name")
    .put(auth.admin, jsonBody, async (req, res) => {
      const { weight } = validate(tenantWeightSchema, req.body);
      res.json(await tenantWeightSet(pool, nameParam(req, "name", "tenant"), weight));
    })
    .all(methodNotAllowed);

  // The tenant's rights and admission limits (issue 17), set by the admin, readable by the tenant.
  router
    .route("/v1/tenants/:name/limits")
    .get(auth.any, async (req, res) => {
      const name = nameParam(req, "name", "tenant");
      const scope = tenantScope(res);
      const limits = scope && scope.name !== name ? undefined : await tenantLimitsGet(pool, name);
      if (!limits) throw new HttpProblem(404, `tenant "${name}" does not exist`);
      res.json(limits);
    })
    .put(auth.admin, jsonBody, async (req, res) => {
      const limits = await tenantLimitsSet(pool, nameParam(req, "name", "tenant"), req.body);
      auth.forget();
      res.json(limits);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/tenants/:name/token")
    .post(auth.admin, async (req, res) => {
      const name = nameParam(req, "name", "tenant");
      const { token, hash } = newTenantToken();
      const tenant = await tenantRotateToken(pool, name, hash);
      auth.forget();
      if (!tenant) throw new HttpProblem(404, `tenant "${name}" does not exist`);
      res.setHeader("Cache-Control", "no-store").json({ ...tenant, token });
    })
    .all(methodNotAllowed);

  return router;
}
