/**
 * Request bodies of workflows and periodic jobs. Their job specs are checked where every job spec
 * is: omega.submit_job (through omega.submit_workflow and the periodic launcher), the one authority;
 * here only the shape around them, for per-field errors.
 */
import { z } from "zod";
import { nameSchema, text } from "./job-spec.ts";

/** A job's name within a workflow: what other jobs of it write in `dependsOn`. */
export const STEP_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

const jobSpecObject = z
  .record(z.string(), z.unknown())
  .meta({ description: "a job spec (see JobSpec); dependsOn may name other jobs of the workflow" });

export const workflowSpecSchema = z.strictObject({
  name: text(253).min(1),
  cell: nameSchema,
  jobs: z
    .record(
      z.string().regex(STEP_PATTERN, "job names are 1-63 letters, digits, '.', '_' or '-'"),
      jobSpecObject,
    )
    .refine((jobs) => {
      const n = Object.keys(jobs).length;
      return n >= 1 && n <= 1000;
    }, "1 to 1000 named jobs are required"),
});
export type WorkflowSpec = z.output<typeof workflowSpecSchema>;

export const CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"] as const;

export const periodicSpecSchema = z.strictObject({
  name: nameSchema,
  schedule: text(200).meta({
    description:
      'five-field cron ("*/5 * * * *"); a sixth leading field gives seconds (extension: "*/1 * * * * *")',
  }),
  timeZone: text(100)
    .optional()
    .meta({ description: "IANA time zone the schedule is read in (Default: UTC)" }),
  concurrencyPolicy: z
    .enum(CONCURRENCY_POLICIES)
    .optional()
    .meta({ description: "what a launch does while the previous job runs (Default: Allow)" }),
  startingDeadlineSeconds: z
    .int()
    .min(1)
    .max(31_536_000)
    .optional()
    .meta({ description: "a launch missed by more than this is skipped (Default: 60)" }),
  suspend: z.boolean().optional().meta({ description: "paused: no launches (Default: false)" }),
  job: jobSpecObject,
});
export type PeriodicSpec = z.output<typeof periodicSpecSchema>;
