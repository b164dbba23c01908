import { Router } from "express";
import type { ApiContext } from "../context.ts";
import { docsPage } from "../ui/docs-page.ts";

/** GET /docs: the OpenAPI document (/openapi.json) as a page people read. */
export function docsRoutes(_ctx: ApiContext): Router {
  const router = Router();
  router.get("/docs", (_req, res) => {
    res.type("html").send(docsPage());
  });
  return router;
}
