import { Router } from "express";
import { schedulerList } from "../../db/queries/scheduler-list.ts";
import type { ApiContext } from "../context.ts";
import { methodNotAllowed } from "../problem.ts";

export function schedulerRoutes({ db, auth }: ApiContext): Router {
  const router = Router();
  router
    .route("/v1/schedulers")
    .get(auth.any, async (_req, res) => {
      res.json({ schedulers: await schedulerList(db) });
    })
    .all(methodNotAllowed);
  return router;
}
