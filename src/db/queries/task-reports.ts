import type { ReportsBody } from "../../domain/agent-bodies.ts";
import type { Queryable } from "./queryable.ts";

/** One report's outcome: 200 with the task's new state, or the refusal (404, 409, 422) and why. */
export interface TaskReportResult {
  taskId: number;
  status: number;
  state: string | null;
  jobState: string | null;
  reason: string | null;
  detail: string | null;
}

/**
 * omega.report_tasks: many of a machine's tasks in one transaction, each as omega.report_task
 * would take it; a refused report is a result of its own and does not undo the others.
 */
export async function taskReports(
  db: Queryable,
  cell: string,
  machine: string,
  reports: ReportsBody["reports"],
): Promise<TaskReportResult[]> {
  const { rows } = await db.query<TaskReportResult>(
    `select task_id as "taskId", status, state, job_state as "jobState", reason, detail
     from omega.report_tasks($1, $2, $3::jsonb)`,
    [cell, machine, JSON.stringify(reports)],
  );
  return rows.map((r) => ({ ...r, taskId: Number(r.taskId) }));
}
