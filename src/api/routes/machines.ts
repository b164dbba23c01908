import { type RequestHandler, Router } from "express";
import { z } from "zod";
import { cellExists } from "../../db/queries/cell-list.ts";
import { machineDrain } from "../../db/queries/machine-drain.ts";
import { machineList } from "../../db/queries/machine-list.ts";
import { machinePut } from "../../db/queries/machine-put.ts";
import { machineRemove } from "../../db/queries/machine-remove.ts";
import { machineSetState } from "../../db/queries/machine-set-state.ts";
import { parseDuration } from "../../domain/duration.ts";
import { MACHINE_NAME_PATTERN, machineBodySchema } from "../../domain/job-spec.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { jsonBody, machineNameParam, nameParam, param, validate } from "../request.ts";

// Pages of at most 1,000 machines (issue 17: no response may hold the event loop for long).
const machinesQuery = z.strictObject({
  after: z.string().max(253).optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(1).max(1000))
    .optional(),
});

/** POST …/drain: an optional body; `deadline` bounds how long its tasks may stay (Default: none, at once). */
const drainBody = z.strictObject({
  deadline: z
    .string()
    .refine((v) => parseDuration(v) !== undefined, 'must be a duration such as "30s", "5m" or "1h"')
    .optional(),
});

/** A drain may come with no body at all (as it always could); with one, it is JSON. */
const optionalJsonBody: RequestHandler = (req, res, next) => {
  const length = req.headers["content-length"];
  if (length === "0" || (length === undefined && req.headers["transfer-encoding"] === undefined)) {
    req.body = {};
    next();
    return;
  }
  jsonBody(req, res, next);
};

export function machineRoutes({ pool, db, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/cells/:cell/machines")
    .get(auth.any, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      if (!(await cellExists(pool, cell))) throw new HttpProblem(404, `cell "${cell}" does not exist`);
      const { after, limit } = validate(machinesQuery, req.query);
      res.json(await machineList(db, cell, { after, limit: limit ?? 1000 }));
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name")
    // The cell's agents may register their own machines, as a kubelet registers its node.
    .put(auth.agent, jsonBody, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const name = param(req, "name");
      // Checked here: the procedure would report a bad name as a capacity conflict (see the report).
      if (!MACHINE_NAME_PATTERN.test(name)) {
        throw new HttpProblem(422, "the machine name is not valid", {
          errors: [{ path: "name", message: "must be 1-253 letters, digits, '.', '_' or '-'" }],
        });
      }
      const body = validate(machineBodySchema, req.body);
      const { machine, created } = await machinePut(pool, cell, name, body);
      if (created) res.status(201).location(`/v1/cells/${cell}/machines/${name}`);
      res.json(machine);
    })
    .delete(auth.admin, async (req, res) => {
      await machineRemove(pool, nameParam(req, "cell", "cell"), machineNameParam(req));
      res.status(204).end();
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name/drain")
    .post(auth.admin, optionalJsonBody, async (req, res) => {
      const body = validate(drainBody, req.body);
      const deadlineMs = body.deadline === undefined ? 0 : (parseDuration(body.deadline) ?? 0);
      res.json(await machineDrain(pool, nameParam(req, "cell", "cell"), machineNameParam(req), deadlineMs));
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name/undrain")
    .post(auth.admin, async (req, res) => {
      res.json(await machineSetState(pool, nameParam(req, "cell", "cell"), machineNameParam(req), "up"));
    })
    .all(methodNotAllowed);

  return router;
}
