/**
 * Watchable state: GET /v1/events (every event the caller may see) and GET /v1/jobs/:id/events,
 * as JSON pages, or with ?follow=true as server-sent events fed by the event feed (LISTEN/NOTIFY).
 * A tenant sees the events of its own jobs only. A followed job's stream ends (event `end`) once
 * the job has finished: succeeded, failed or cancelled.
 */
import { Router } from "express";
import { z } from "zod";
import { type ClusterEvent, eventList, jobEventList } from "../../db/queries/event-list.ts";
import { nameSchema } from "../../domain/job-spec.ts";
import type { EventFeed } from "../../events/feed.ts";
import { tenantScope } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { jobIdParam, validate } from "../request.ts";
import { eventView, openEventStream, resumeFrom } from "../sse.ts";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const CATCH_UP_PAGE = 1000;

const wholeNumber = z
  .string()
  .regex(/^[0-9]{1,16}$/, "must be a whole number")
  .transform(Number);

const eventsQuery = z.strictObject({
  follow: z.enum(["true", "false"]).optional(),
  after: wholeNumber.optional(),
  limit: wholeNumber.pipe(z.number().min(1).max(1000)).optional(),
  cell: nameSchema.optional(),
});

const isFinal = (e: ClusterEvent) => e.taskId === null && FINAL.has(e.kind);

export function eventRoutes({ pool, auth }: ApiContext, feed: EventFeed): Router {
  const router = Router();

  router
    .route("/v1/events")
    .get(auth.any, async (req, res) => {
      const query = validate(eventsQuery, req.query);
      const tenantId = tenantScope(res)?.id;
      const asTenant = tenantId !== undefined;
      if (query.follow !== "true") {
        // Without a cursor: the latest page (what happened lately), oldest first.
        const events = await eventList(pool, {
          after: query.after,
          limit: query.limit ?? 100,
          cell: query.cell,
          tenantId,
        });
        res.json({ events: events.map((e) => eventView(e, asTenant)) });
        return;
      }
      const stream = openEventStream(req, res, asTenant);
      // Live events wait in `held` until the catch-up has been sent, so the stream stays in order.
      let held: ClusterEvent[] | undefined = [];
      const unsubscribe = feed.subscribe({
        wants: (e) =>
          (tenantId === undefined || e.tenantId === tenantId) && (!query.cell || e.cell === query.cell),
        deliver: (e) => (held ? held.push(e) : stream.send(e)),
        lost: () => stream.close(),
      });
      stream.onClose(unsubscribe);
      // Without a resume point a follower starts from now, as `nomad event stream` does.
      const from = resumeFrom(req, query.after);
      for (let after = from; after !== undefined && !stream.closed; ) {
        const page = await eventList(pool, { after, limit: CATCH_UP_PAGE, cell: query.cell, tenantId });
        for (const e of page) stream.send(e);
        after = page.length === CATCH_UP_PAGE ? page[page.length - 1]?.id : undefined;
      }
      const live = held;
      held = undefined;
      for (const e of live) stream.send(e);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/jobs/:id/events")
    .get(auth.any, async (req, res) => {
      const id = jobIdParam(req);
      const query = validate(eventsQuery.omit({ cell: true }), req.query);
      // Another tenant's job is not found rather than forbidden: its existence is not theirs to know.
      const tenantId = tenantScope(res)?.id;
      const asTenant = tenantId !== undefined;
      const { rows } = await pool.query<{ cell: string }>(
        "select cell from omega.jobs where id = $1 and ($2::bigint is null or tenant_id = $2)",
        [id, tenantId ?? null],
      );
      const cell = rows[0]?.cell;
      if (cell === undefined) throw new HttpProblem(404, `job ${id} does not exist`);
      const job = { cell, id };
      if (query.follow !== "true") {
        const limit = query.limit ?? 1000;
        const page = await jobEventList(pool, job, query.after ?? 0, limit + 1);
        const events = page.slice(0, limit);
        const next = page.length > limit ? (events[events.length - 1]?.id ?? null) : null;
        res.json({ events: events.map((e) => eventView(e, asTenant)), next });
        return;
      }
      const stream = openEventStream(req, res, asTenant);
      let finished: ClusterEvent | undefined;
      const finish = (e: ClusterEvent) => stream.end("end", { jobId: id, state: e.kind });
      // Live events wait in `held` until the history has been sent, so the stream stays in order.
      let held: ClusterEvent[] | undefined = [];
      const unsubscribe = feed.subscribe({
        wants: (e) => e.cell === cell && e.jobId === id,
        deliver: (e) => {
          if (held) held.push(e);
          else {
            stream.send(e);
            if (isFinal(e)) finish(e);
          }
        },
        lost: () => stream.close(),
      });
      stream.onClose(unsubscribe);
      // A job's stream starts from its first event (as `kubectl logs -f`) unless resuming.
      for (let after = resumeFrom(req, query.after) ?? 0; !stream.closed; ) {
        const page = await jobEventList(pool, job, after, CATCH_UP_PAGE);
        for (const e of page) {
          stream.send(e);
          if (isFinal(e)) finished = e;
        }
        if (page.length < CATCH_UP_PAGE) break;
        after = page[page.length - 1]?.id ?? after;
      }
      const live = held;
      held = undefined;
      for (const e of live) {
        stream.send(e);
        if (isFinal(e)) finished ??= e;
      }
      if (!finished) finished = await finalState(pool, job);
      if (finished) finish(finished);
    })
    .all(methodNotAllowed);

  return router;
}

/**
 * A job that finished before the resume point has no final event left to send: its state says.
 * (The event might also have been missed by the feed while it reconnected.)
 */
async function finalState(pool: ApiContext["pool"], job: { cell: string; id: number }) {
  const { rows } = await pool.query<{ state: string }>(
    "select state from omega.jobs where cell = $1 and id = $2",
    [job.cell, job.id],
  );
  const state = rows[0]?.state;
  return state && FINAL.has(state) ? ({ kind: state } as ClusterEvent) : undefined;
}
