import { Router } from "express";
import { periodicDelete, periodicSuspend } from "../../db/queries/periodic-change.ts";
import { periodicCreate } from "../../db/queries/periodic-create.ts";
import { periodicList } from "../../db/queries/periodic-get.ts";
import { periodicSpecSchema } from "../../domain/workflow-spec.ts";
import { scheduleError } from "../../periodic/cron.ts";
import { principalOf, tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { idParam, jsonBody, validate } from "../request.ts";

/** POST/GET /v1/periodic, GET/DELETE /v1/periodic/:periodic, POST /v1/periodic/:periodic/pause|resume. */
export function periodicRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/periodic")
    .get(auth.any, async (_req, res) => {
      res.json({ periodic: await periodicList(pool, tenantScope(res)?.id) });
    })
    .post(auth.tenant, jsonBody, async (req, res) => {
      const spec = validate(periodicSpecSchema, req.body);
      const invalid = scheduleError(spec.schedule, spec.timeZone ?? "UTC");
      if (invalid) {
        const [field, ...rest] = invalid.split(": ");
        throw new HttpProblem(422, invalid, {
          errors: [{ path: field ?? "schedule", message: rest.join(": ") }],
        });
      }
      const tenant = principalOf(res);
      if (tenant.kind !== "tenant") throw new Error("auth.tenant let a non-tenant through");
      const id = await periodicCreate(pool, tenant.name, req.body);
      const [created] = await periodicList(pool, tenant.id, id);
      res.status(201).location(`/v1/periodic/${id}`).json(created);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/periodic/:periodic")
    .get(auth.any, async (req, res) => {
      const id = idParam(req, "periodic", "periodic job");
      const [found] = await periodicList(pool, tenantScope(res)?.id, id);
      if (!found) throw new HttpProblem(404, `periodic job ${id} does not exist`);
      res.json(found);
    })
    .delete(auth.any, async (req, res) => {
      const id = idParam(req, "periodic", "periodic job");
      if (!(await periodicDelete(pool, id, tenantScope(res)?.name ?? null)))
        throw new HttpProblem(404, `periodic job ${id} does not exist`);
      res.json({ id, deleted: true });
    })
    .all(methodNotAllowed);

  for (const action of ["pause", "resume"] as const) {
    router
      .route(`/v1/periodic/:periodic/${action}`)
      .post(auth.any, async (req, res) => {
        const id = idParam(req, "periodic", "periodic job");
        if (!(await periodicSuspend(pool, id, tenantScope(res)?.name ?? null, action === "pause")))
          throw new HttpProblem(404, `periodic job ${id} does not exist`);
        const [found] = await periodicList(pool, undefined, id);
        res.json(found);
      })
      .all(methodNotAllowed);
  }

  return router;
}
