import type { Queryable } from "./queryable.ts";

/**
 * Prunes omega.machine_changes, the log the snapshot sync reads, of rows older than ten minutes
 * (0346_machine_changes_logged.sql): a worker whose cursor is older reads its cell whole. Returns
 * the rows pruned.
 */
export async function pruneMachineChanges(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ pruned: number }>("select omega.prune_machine_changes() as pruned");
  return rows[0]?.pruned ?? 0;
}
