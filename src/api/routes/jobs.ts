import { Router } from "express";
import { z } from "zod";
import { jobCancel } from "../../db/queries/job-cancel.ts";
import { jobGet } from "../../db/queries/job-get.ts";
import { jobList } from "../../db/queries/job-list.ts";
import { jobSpecSchema, nameSchema } from "../../domain/job-spec.ts";
import { principalOf, tenantScope } from "../auth.ts";
import { BULK_TASKS, BulkGate, submitAlone } from "../bulk-gate.ts";
import type { ApiContext } from "../context.ts";
import { JobReadBack } from "../job-read-back.ts";
import { HttpProblem, methodNotAllowed } from "../problem.ts";
import { submissionRateLimit, TokenBuckets } from "../rate-limit.ts";
import { jobIdParam, jsonBody, validate } from "../request.ts";

const JOB_STATES = ["pending", "placed", "running", "succeeded", "failed", "cancelled"] as const;

function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min).max(max));
}

const jobQuery = z.strictObject({
  after: wholeNumber(0, 100_000).optional(),
  limit: wholeNumber(1, 1000).optional(),
});

const listQuery = z.strictObject({
  state: z.enum(JOB_STATES).optional(),
  cell: nameSchema.optional(),
  tenant: nameSchema.optional(),
  limit: wholeNumber(1, 1000).optional(),
  after: wholeNumber(0, Number.MAX_SAFE_INTEGER).optional(),
});

/** The Idempotency-Key header (IETF httpapi draft; Stripe): 1-255 visible ASCII characters. */
function idempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new HttpProblem(400, "the Idempotency-Key header must be 1-255 visible ASCII characters");
  }
  return value;
}

export function jobRoutes({ pool, auth, submissions, submissionBuckets }: ApiContext): Router {
  const router = Router();
  const readBack = new JobReadBack(pool);
  const buckets = submissionBuckets ?? new TokenBuckets();
  const bulk = new BulkGate();

  router
    .route("/v1/jobs")
    .get(auth.any, async (req, res) => {
      const query = validate(listQuery, req.query);
      const page = await jobList(pool, {
        ...query,
        tenantId: tenantScope(res)?.id,
        limit: query.limit ?? 100,
      });
      res.json(page);
    })
    .post(auth.tenant, submissionRateLimit(buckets), jsonBody, async (req, res) => {
      const key = idempotencyKey(req.get("idempotency-key"));
      const spec = validate(jobSpecSchema, req.body);
      const tenant = principalOf(res);
      if (tenant.kind !== "tenant") throw new Error("auth.tenant let a non-tenant through");
      // Committed with the submissions that arrive meanwhile (group commit). A large job goes
      // alone, one at a time per process: in a batch it would hold the others' commit for the
      // seconds its rows take (issue 17, the noisy neighbour). A created job comes back with the
      // commit; a repeated idempotent one is read back, with the others read meanwhile (JobReadBack).
      const submission = { tenant: tenant.name, spec, clientToken: key };
      const submitted = await (spec.tasks > BULK_TASKS
        ? bulk.run(() => submitAlone(pool, submission))
        : submissions.submit(submission));
      const { id, created } = submitted;
      const job = submitted.job ?? (await readBack.read(id, tenant.id));
      if (!job) throw new Error("a submitted job could not be read back");
      // A retry with the same key answers as the first request did (Stripe's Idempotent-Replayed).
      if (!created) res.setHeader("Idempotent-Replayed", "true");
      res.status(201).location(`/v1/jobs/${job.id}`).json(job);
    })
    .all(methodNotAllowed);

  router
    .route("/v1/jobs/:id")
    .get(auth.any, async (req, res) => {
      const id = jobIdParam(req);
      const query = validate(jobQuery, req.query);
      // Another tenant's job is not found rather than forbidden: its existence is not theirs to know.
      const job = await jobGet(pool, id, tenantScope(res)?.id, query);
      if (!job) throw new HttpProblem(404, `job ${id} does not exist`);
      res.json(job);
    })
    .delete(auth.any, async (req, res) => {
      const id = jobIdParam(req);
      const state = await jobCancel(pool, id, tenantScope(res)?.name ?? null);
      res.json({ id, state });
    })
    .all(methodNotAllowed);

  return router;
}
