import { Router } from "express";
import { workflowCancel } from "../../db/queries/workflow-cancel.ts";
import { workflowGet } from "../../db/queries/workflow-get.ts";
import { workflowSubmit } from "../../db/queries/workflow-submit.ts";
import { workflowSpecSchema } from "../../domain/workflow-spec.ts";
import { principalOf, tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { submissionRateLimit, TokenBuckets } from "../rate-limit.ts";
import { idParam, jsonBody, validate } from "../request.ts";

/** POST /v1/workflows, GET and DELETE /v1/workflows/:workflow (SPEC "Workflows"). */
export function workflowRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();
  const buckets = new TokenBuckets();

  router
    .route("/v1/workflows")
    .post(auth.tenant, submissionRateLimit(buckets), jsonBody, async (req, res) => {
      validate(workflowSpecSchema, req.body);
      const tenant = principalOf(res);
      if (tenant.kind !== "tenant") throw new Error("auth.tenant let a non-tenant through");
      // The body as sent: omega.submit_workflow checks each job spec with omega.submit_job.
      const id = await workflowSubmit(pool, tenant.name, req.body);
      const workflow = await workflowGet(pool, id, tenant.id);
      if (!workflow) throw new Error("a submitted workflow could not be read back");
      res.status(201).location(`/v1/workflows/${id}`).json(workflow);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/workflows/:workflow")
    .get(auth.any, async (req, res) => {
      const id = idParam(req, "workflow", "workflow");
      // Another tenant's workflow is not found: its existence is not theirs to know.
      const workflow = await workflowGet(pool, id, tenantScope(res)?.id);
      if (!workflow) throw new HttpProblem(404, `workflow ${id} does not exist`);
      res.json(workflow);
    })
    .delete(auth.any, async (req, res) => {
      const id = idParam(req, "workflow", "workflow");
      const cancelled = await workflowCancel(pool, id, tenantScope(res)?.name ?? null);
      const workflow = await workflowGet(pool, id);
      res.json({ id, cancelled, state: workflow?.state });
    })
    .all(methodNotAllowed);

  return router;
}
