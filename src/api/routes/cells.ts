import { Router } from "express";
import { z } from "zod";
import { capacityGet } from "../../db/queries/capacity-get.ts";
import { cellCreate } from "../../db/queries/cell-create.ts";
import { cellExists, cellGet, cellList } from "../../db/queries/cell-list.ts";
import { quotaPolicyGet, quotaPolicySet } from "../../db/queries/cell-quota-policy.ts";
import { cellBodySchema, constraintsSchema, resourcesSchema } from "../../domain/job-spec.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { protoKeyPath } from "../proto-keys.ts";
import { jsonBody, nameParam, validate } from "../request.ts";

/** A query parameter holding URL-encoded JSON. */
const jsonParam = z.string().transform((value, ctx) => {
  try {
    const parsed = JSON.parse(value) as unknown;
    const proto = protoKeyPath(parsed);
    if (proto !== undefined) {
      ctx.addIssue({ code: "custom", message: `"__proto__" is not accepted as a key (at ${proto})` });
      return z.NEVER;
    }
    return parsed;
  } catch {
    ctx.addIssue({ code: "custom", message: "must be URL-encoded JSON" });
    return z.NEVER;
  }
});

// Query values are strings, so each dimension is read as a Kubernetes quantity (?cpu=2&memory=4Gi);
// constraints are a job spec's, as JSON (?constraints={"selector":{"zone":"a"},"maxPerMachine":1}).
const capacityQuery = z.strictObject({
  cpu: z.string().optional(),
  memory: z.string().optional(),
  gpu: z.string().optional(),
  disk: z.string().optional(),
  constraints: jsonParam.pipe(constraintsSchema).optional(),
});

export function cellRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/cells")
    .get(auth.any, async (_req, res) => {
      res.json({ cells: await cellList(pool) });
    })
    .post(auth.admin, jsonBody, async (req, res) => {
      const { name } = validate(cellBodySchema, req.body);
      await cellCreate(pool, name);
      const cell = await cellGet(pool, name);
      res.status(201).location(`/v1/cells/${name}`).json(cell);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell")
    .get(auth.any, async (req, res) => {
      const name = nameParam(req, "cell", "cell");
      const cell = await cellGet(pool, name);
      if (!cell) throw new HttpProblem(404, `cell "${name}" does not exist`);
      res.json(cell);
    })
    .all(methodNotAllowed);

  // What a missing quota means here, per band (issue 17): "unlimited", or "none" (the band needs a
  // quota). Validated by omega.set_quota_policy.
  router
    .route("/v1/cells/:cell/quota-policy")
    .get(auth.any, async (req, res) => {
      const name = nameParam(req, "cell", "cell");
      const policy = await quotaPolicyGet(pool, name);
      if (!policy) throw new HttpProblem(404, `cell "${name}" does not exist`);
      res.json(policy);
    })
    .put(auth.admin, jsonBody, async (req, res) => {
      res.json(await quotaPolicySet(pool, nameParam(req, "cell", "cell"), req.body));
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/capacity")
    .get(auth.any, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const { constraints, ...dimensions } = validate(capacityQuery, req.query);
      const shape = validate(resourcesSchema, dimensions);
      if (shape.cpu + shape.memory + shape.gpu + shape.disk === 0) {
        throw new HttpProblem(422, "the shape is empty", {
          errors: [{ path: "cpu", message: "at least one of cpu, memory, gpu, disk must be above zero" }],
        });
      }
      if (!(await cellExists(pool, cell))) throw new HttpProblem(404, `cell "${cell}" does not exist`);
      res.json({ cell, shape, ...(await capacityGet(pool, cell, shape, constraints)) });
    })
    .all(methodNotAllowed);

  return router;
}
