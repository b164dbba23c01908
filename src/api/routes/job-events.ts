import { Router } from "express";
import { z } from "zod";
import { jobEvents } from "../../db/queries/job-events.ts";
import { tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { jobIdParam, validate } from "../request.ts";

const wholeNumber = (max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().max(max));

const eventsQuery = z.strictObject({
  after: wholeNumber(Number.MAX_SAFE_INTEGER).optional(),
  limit: wholeNumber(1000).pipe(z.number().min(1)).optional(),
});

/** GET /v1/jobs/:id/events: what happened to a job, in order (owner or admin). */
export function jobEventRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();
  router
    .route("/v1/jobs/:id/events")
    .get(auth.any, async (req, res) => {
      const id = jobIdParam(req);
      const query = validate(eventsQuery, req.query);
      // Another tenant's job is not found rather than forbidden, as for GET /v1/jobs/:id.
      const page = await jobEvents(pool, id, {
        tenantId: tenantScope(res)?.id,
        after: query.after ?? 0,
        limit: query.limit ?? 1000,
      });
      if (!page) throw new HttpProblem(404, `job ${id} does not exist`);
      res.json(page);
    })
    .all(methodNotAllowed);
  return router;
}
