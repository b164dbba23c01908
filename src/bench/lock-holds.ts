import type { Pool } from "../db/pool.ts";
import { round } from "./stats.ts";

export interface LockHolds {
  commits: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * How long each commit of a cell held its machines' row locks: from the start of its transaction
 * to the transaction's commit, WAL flush included. An optimistic commit is a transaction of its own
 * (`omega.commit_plan` alone) that takes its locks after checking its tables' statistics (which
 * analyzes only a table analyzed empty: the first commits on a fresh database), so this is its hold,
 * give or take that check. The pessimistic baseline's transaction also leases its jobs and waits
 * for the whole cell's lock before holding it: for it, this is the wait and the hold together. The
 * start is the plan row's `committed_at` (the transaction's `now()`), the end PostgreSQL's commit
 * timestamp of the transaction that wrote the row. Null where
 * the server does not record commit timestamps (`track_commit_timestamp`: the bench's own server
 * does; a DATABASE_URL's may not).
 */
export async function lockHolds(pool: Pool, cell: string): Promise<LockHolds | null> {
  const { rows: setting } = await pool.query<{ on: boolean }>(
    "select current_setting('track_commit_timestamp') = 'on' as on",
  );
  if (!setting[0]?.on) return null;
  const { rows } = await pool.query<{ commits: number; p50: number; p99: number; max: number }>(
    `select count(*)::int as commits,
            percentile_cont(0.5) within group (order by h.ms) as p50,
            percentile_cont(0.99) within group (order by h.ms) as p99,
            max(h.ms) as max
     from (select extract(epoch from pg_xact_commit_timestamp(p.xmin) - p.committed_at)::float8 * 1000 as ms
           from omega.plans p where p.cell = $1) h
     where h.ms is not null`,
    [cell],
  );
  const r = rows[0];
  if (!r || r.commits === 0) return null;
  return { commits: r.commits, p50Ms: round(r.p50, 1), p99Ms: round(r.p99, 1), maxMs: round(r.max, 1) };
}
