import type { Pool } from "../db/pool.ts";
import type { Progress } from "./progress.ts";

/** The id of the cell's latest plan (0 for none). */
export async function lastPlanId(pool: Pool, cell: string): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(
    "select coalesce(max(id), 0) as id from omega.plans where cell = $1",
    [cell],
  );
  return rows[0]?.id ?? 0;
}

/**
 * Polls until no job of the cell is waiting for a scheduler (each is placed or parked); returns
 * performance.now() at that moment. Reads only the jobs table (a row per job, not per task), so
 * polling every few milliseconds costs the system under test next to nothing.
 */
export async function waitUntilScheduled(
  pool: Pool,
  cell: string,
  bar?: Progress,
  timeoutMs = 30 * 60_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ placed: number; waiting: number }>(
      `select coalesce(sum(task_count - pending_count), 0)::int as placed,
              count(*) filter (where state = 'pending' and not blocked)::int as waiting
       from omega.jobs where cell = $1`,
      [cell],
    );
    const now = performance.now();
    bar?.update(rows[0]?.placed ?? 0);
    if (rows[0]?.waiting === 0) return now;
    if (now > deadline) throw new Error(`jobs still waiting after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Omega's conflict fraction over a cell's plans (up to plan `untilPlanId`, when given): conflicted
 * plans per successful plan.
 */
export async function planStats(pool: Pool, cell: string, untilPlanId?: number) {
  const { rows } = await pool.query<{
    plans: number;
    conflicts: number;
    successful: number;
    attempted: number;
    committed: number;
    commit_ms: number;
    rejected: Record<string, number> | null;
  }>(
    `select count(*)::int as plans,
            count(*) filter (where committed < attempted)::int as conflicts,
            count(*) filter (where committed > 0)::int as successful,
            coalesce(sum(attempted), 0)::int as attempted,
            coalesce(sum(committed), 0)::int as committed,
            coalesce(sum(duration_ms), 0)::float8 as commit_ms,
            (select jsonb_object_agg(r.reason, r.n) from (
               select r.key as reason, sum(r.value::int)::int as n
               from omega.plans p, jsonb_each_text(p.rejected) r
               where p.cell = $1 and ($2::bigint is null or p.id <= $2) group by r.key) r) as rejected
     from omega.plans where cell = $1 and ($2::bigint is null or id <= $2)`,
    [cell, untilPlanId ?? null],
  );
  const r = rows[0] as NonNullable<(typeof rows)[0]>;
  return {
    plans: r.plans,
    conflicts: r.conflicts,
    conflictFraction: r.successful > 0 ? r.conflicts / r.successful : 0,
    attempted: r.attempted,
    committed: r.committed,
    /** Time inside omega.commit_plan, summed over plans. */
    dbCommitMs: r.commit_ms,
    /** Placements the commits rejected, by reason (machine_busy: another commit held the machine). */
    rejected: r.rejected ?? {},
  };
}
