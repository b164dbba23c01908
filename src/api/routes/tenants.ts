import { Router } from "express";
import { tenantCreate } from "../../db/queries/tenant-create.ts";
import { tenantList } from "../../db/queries/tenant-list.ts";
import { tenantRotateToken } from "../../db/queries/tenant-rotate-token.ts";
import { tenantBodySchema } from "../../domain/job-spec.ts";
import { newTenantToken } from "../../domain/tokens.ts";
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
      const { name } = validate(tenantBodySchema, req.body);
      const { token, hash } = newTenantToken();
      const tenant = await tenantCreate(pool, name, hash);
      if (!tenant) throw new HttpProblem(409, `tenant "${name}" already exists`);
      // The only time the token is shown: only its hash is stored.
      res
        .status(201)
        .setHeader("Cache-Control", "no-store")
        .json({ ...tenant, token });
    })
    .all(methodNotAllowed);

  router
    .route("/v1/tenants/:name/token")
    .post(auth.admin, async (req, res) => {
      const name = nameParam(req, "name", "tenant");
      const { token, hash } = newTenantToken();
      const tenant = await tenantRotateToken(pool, name, hash);
      if (!tenant) throw new HttpProblem(404, `tenant "${name}" does not exist`);
      res.setHeader("Cache-Control", "no-store").json({ ...tenant, token });
    })
    .all(methodNotAllowed);

  return router;
}
