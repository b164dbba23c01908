import type { Queryable } from "./queryable.ts";

/**
 * Folds the pending-task counts of backends that have ended into their tenants' row 0
 * (0321_pending_tasks_counted.sql), so that reading a tenant's backlog stays a few rows; returns
 * the rows folded.
 */
export async function foldPendingCounts(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ folded: number }>("select omega.fold_pending_counts() as folded");
  return rows[0]?.folded ?? 0;
}
