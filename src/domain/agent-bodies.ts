/**
 * Request bodies of the machine agent API (src/api/routes/agents.ts), strict like every other body.
 * omega.heartbeat and omega.report_task check the same rules again in SQL.
 */
import { z } from "zod";
import { text } from "./job-spec.ts";

export const REPORTED_STATES = ["running", "succeeded", "failed"] as const;
export type ReportedState = (typeof REPORTED_STATES)[number];

const taskId = z.int().min(1).max(Number.MAX_SAFE_INTEGER);

/** A heartbeat; `running` lists the task ids the agent runs, so that it can be told which to stop. */
export const heartbeatBodySchema = z.strictObject({
  running: z.array(taskId).max(10_000).optional(),
});

/** One task's transition, with the exit reason ("exit 0", "OOMKilled") when it finished. */
export const taskReportBodySchema = z.strictObject({
  state: z.enum(REPORTED_STATES),
  reason: text(1000).optional(),
});

/** The most reports one call may carry (omega.report_tasks checks the same bound). */
export const MAX_REPORTS = 1000;

/** Many tasks' transitions in one call: one transaction instead of one HTTP call per task. */
export const reportsBodySchema = z.strictObject({
  reports: z
    .array(z.strictObject({ task: taskId, state: z.enum(REPORTED_STATES), reason: text(1000).optional() }))
    .min(1)
    .max(MAX_REPORTS),
});

export type ReportsBody = z.output<typeof reportsBodySchema>;
export type HeartbeatBody = z.output<typeof heartbeatBodySchema>;
export type TaskReportBody = z.output<typeof taskReportBodySchema>;
