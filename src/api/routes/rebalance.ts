import { Router } from "express";
import { z } from "zod";
import { cellExists } from "../../db/queries/cell-list.ts";
import { rebalanceSettingsGet } from "../../db/queries/rebalance-settings-get.ts";
import { rebalanceStateGet } from "../../db/queries/rebalance-state.ts";
import { nameSchema } from "../../domain/job-spec.ts";
import { planRebalance } from "../../rebalance/plan.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { nameParam, validate } from "../request.ts";

const rebalanceQuery = z.strictObject({
  dryRun: z.literal("true", {
    error:
      "only a dry run is served here (dryRun=true): moves are made by `omega worker --scheduler rebalance`",
  }),
  scheduler: nameSchema.optional(),
});

/**
 * GET /v1/cells/:cell/rebalance?dryRun=true: the moves the rebalancer would make now — the same
 * planner the worker runs, on the cell as it is, with the settings its workers registered — and how
 * the cell's metrics would change. Admin only: the moves name every tenant's tasks.
 */
export function rebalanceRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();
  router
    .route("/v1/cells/:cell/rebalance")
    .get(auth.admin, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const query = validate(rebalanceQuery, req.query);
      const scheduler = query.scheduler ?? "rebalance";
      if (!(await cellExists(pool, cell))) throw new HttpProblem(404, `cell "${cell}" does not exist`);
      const settings = await rebalanceSettingsGet(pool, scheduler);
      if (!settings)
        throw new HttpProblem(422, `"${scheduler}" is not a rebalancing scheduler`, {
          errors: [{ path: "scheduler", message: "must name a rebalancing scheduler, such as rebalance" }],
        });
      const state = await rebalanceStateGet(pool, cell, settings.cooldownSeconds);
      const plan = planRebalance(state, settings);
      const names = new Map(state.machines.map((m) => [m.id, m.name]));
      res.json({
        cell,
        scheduler,
        dryRun: true,
        strategies: settings.strategies,
        moves: plan.moves.map((m) => ({
          taskId: m.taskId,
          jobId: m.jobId,
          from: names.get(m.from) ?? String(m.from),
          to: names.get(m.to) ?? String(m.to),
          strategy: m.strategy,
          forJob: m.forJob,
          why: m.why,
        })),
        before: plan.before,
        after: plan.after,
      });
    })
    .all(methodNotAllowed);
  return router;
}
