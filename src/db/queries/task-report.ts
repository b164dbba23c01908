import type { ReportedState } from "../../domain/agent-bodies.ts";
import type { Queryable } from "./queryable.ts";

export interface TaskReportReply {
  taskId: number;
  jobId: number;
  taskIndex: number;
  state: string;
  jobState: string;
  reason: string | null;
}

/**
 * omega.report_task: a task of this machine is running, succeeded or failed. A finished task's
 * claim is released in the same transaction; a failed one may go back to pending for a retry.
 */
export async function taskReport(
  db: Queryable,
  args: { cell: string; machine: string; taskId: number; state: ReportedState; reason?: string | undefined },
): Promise<TaskReportReply> {
  const { rows } = await db.query(
    `select task_id as "taskId", job_id as "jobId", task_index as "taskIndex", state, job_state as "jobState", reason
     from omega.report_task($1, $2, $3, $4, $5)`,
    [args.cell, args.machine, args.taskId, args.state, args.reason ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.report_task returned no row");
  return row as TaskReportReply;
}
