/**
 * The web console at /ui: one page and its script and style (src/api/ui/assets), no build step.
 * It signs in with a token kept in the browser's localStorage and reads the same /v1 API as the CLI,
 * with the token's rights: the admin sees everything, a tenant its own jobs and quotas. It stays
 * live through the event stream (GET /v1/events?follow=true) rather than by reloading.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import express, { Router } from "express";
import type { ApiContext } from "../context.ts";

const assets = fileURLToPath(new URL("./assets/", import.meta.url));
const page = readFileSync(new URL("./assets/console.html", import.meta.url), "utf8");

export function consoleRoutes(_ctx: ApiContext): Router {
  const router = Router();
  // A browser at the bare address lands in the console; a client gets where things are.
  router.get("/", (req, res) => {
    if (req.accepts(["json", "html"]) === "html") res.redirect(302, "/ui");
    else
      res.json({
        name: "omega-scheduler",
        console: "/ui",
        docs: "/docs",
        api: "/v1",
        openapi: "/openapi.json",
      });
  });
  router.get("/ui", (_req, res) => {
    res.setHeader("Cache-Control", "no-cache");
    res.type("html").send(page);
  });
  // Assets through a middleware, not routes: they are files, not part of the API's description.
  router.use("/ui/assets", express.static(assets, { maxAge: "5m", index: false }));
  return router;
}
