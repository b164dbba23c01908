import type { Queryable } from "./queryable.ts";

/**
 * Analyzes the hot path's tables that changed a lot since their last analyze (see
 * 0083_fresh_statistics.sql: generic plans made on stale statistics read whole cells); returns the
 * tables analyzed.
 */
export async function refreshStatistics(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ analyzed: string[] }>("select omega.refresh_statistics() as analyzed");
  return rows[0]?.analyzed ?? [];
}
