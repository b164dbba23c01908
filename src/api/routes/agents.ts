/**
 * The machine agent API: what the process on each machine calls (a real agent, or `omega agent
 * --simulate`). It heartbeats, fetches the claims its machine should run — a conditional GET, so
 * that an unchanged poll reads one row and sends nothing — and reports each task running, succeeded
 * or failed. Every call names its machine; a report on a task that is not claimed on that machine
 * is refused.
 */
import { Router } from "express";
import { agentTokenRotate } from "../../db/queries/agent-token-rotate.ts";
import { machineClaims, machineClaimsVersion } from "../../db/queries/machine-claims.ts";
import { machineHeartbeat } from "../../db/queries/machine-heartbeat.ts";
import { taskReport } from "../../db/queries/task-report.ts";
import { taskReports } from "../../db/queries/task-reports.ts";
import { heartbeatBodySchema, reportsBodySchema, taskReportBodySchema } from "../../domain/agent-bodies.ts";
import { newAgentToken } from "../../domain/tokens.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { idParam, jsonBody, machineNameParam, nameParam, validate } from "../request.ts";

/**
 * If-None-Match against our ETag (RFC 9110 §13.1.2, weak comparison). Not express's req.fresh:
 * that answers "not fresh" to any request with Cache-Control: no-cache, which fetch() adds to
 * every conditional request, whereas the precondition is the origin server's to evaluate anyway.
 */
function etagListMatches(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

export function agentRoutes({ pool, auth }: ApiContext): Router {
  const router = Router();

  router
    .route("/v1/cells/:cell/agent-token")
    .post(auth.admin, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const { token, hash } = newAgentToken();
      const row = await agentTokenRotate(pool, cell, hash);
      auth.forget();
      if (!row) throw new HttpProblem(404, `cell "${cell}" does not exist`);
      // The only time the token is shown: only its hash is stored. The previous one stops working.
      res.setHeader("Cache-Control", "no-store").json({ ...row, token });
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name/heartbeat")
    .post(auth.agent, jsonBody, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const machine = machineNameParam(req);
      const { running } = validate(heartbeatBodySchema, req.body);
      res.json(await machineHeartbeat(pool, cell, machine, running ?? []));
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name/claims")
    .get(auth.agent, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const machine = machineNameParam(req);
      const notFound = () => new HttpProblem(404, `machine "${machine}" does not exist in cell "${cell}"`);
      res.setHeader("Cache-Control", "no-cache");
      // An agent polling with the ETag it holds: compare versions before reading any claim.
      const held = req.get("if-none-match");
      if (held) {
        const version = await machineClaimsVersion(pool, cell, machine);
        if (version === undefined) throw notFound();
        if (etagListMatches(held, `"${version}"`)) {
          res.setHeader("ETag", `"${version}"`).status(304).end();
          return;
        }
      }
      const claims = await machineClaims(pool, cell, machine);
      if (!claims) throw notFound();
      res.setHeader("ETag", `"${claims.version}"`).json(claims);
    })
    .all(methodNotAllowed);

  // Many reports in one call (issue 17: an agent running thousands of tasks sent one call per task,
  // serially, in the loop that also heartbeats). Each result says what became of its report.
  router
    .route("/v1/cells/:cell/machines/:name/reports")
    .post(auth.agent, jsonBody, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const machine = machineNameParam(req);
      const { reports } = validate(reportsBodySchema, req.body);
      res.json({ results: await taskReports(pool, cell, machine, reports) });
    })
    .all(methodNotAllowed);

  router
    .route("/v1/cells/:cell/machines/:name/tasks/:task")
    .post(auth.agent, jsonBody, async (req, res) => {
      const cell = nameParam(req, "cell", "cell");
      const machine = machineNameParam(req);
      const taskId = idParam(req, "task", "task");
      const body = validate(taskReportBodySchema, req.body);
      res.json(await taskReport(pool, { cell, machine, taskId, ...body }));
    })
    .all(methodNotAllowed);

  return router;
}
