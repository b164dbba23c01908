import type { Queryable } from "../db/queries/queryable.ts";
import { sha256 } from "../domain/tokens.ts";

export interface CellShape {
  name: string;
  machines: number;
  /** Per machine, in millicores and MiB. */
  cpu: number;
  memory: number;
  /** Machines get label zone=z0…z(zones-1), round robin. */
  zones?: number;
}

/**
 * A cell of identical machines, inserted in one statement: registering 10,000 machines one API
 * call at a time would time the API, not the scheduler.
 */
export async function createCell(db: Queryable, shape: CellShape): Promise<void> {
  await db.query("select omega.create_cell($1)", [shape.name]);
  // Every band open without a quota (production's default is closed, issue 17): the benchmarks
  // measure the scheduler, not a tenant's rights.
  await db.query(`select omega.set_quota_policy($1, '{"production": "unlimited"}')`, [shape.name]);
  await db.query(
    `insert into omega.machines (cell, name, cpu, memory, labels)
     select $1, 'm' || i, $3, $4, jsonb_build_object('zone', 'z' || (i % $5)) from generate_series(1, $2) i`,
    [shape.name, shape.machines, shape.cpu, shape.memory, shape.zones ?? 3],
  );
}

/**
 * A tenant for SQL submissions (its token is not needed: omega.submit_job takes the tenant's name),
 * with every right and no admission limit to speak of: the benchmarks measure the scheduler, not a
 * tenant's limits (the `noisy` scenario sets its own).
 */
export async function createTenant(db: Queryable, name: string): Promise<void> {
  await db.query(
    `insert into omega.tenants (name, token_hash, max_priority, max_tasks_per_job, max_pending_tasks, jobs_per_minute)
     values ($1, $2, 999, 100000, 100000000, 1000000)`,
    [name, sha256(name)],
  );
}

/** The limits a bench tenant made over HTTP gets (POST /v1/tenants takes them). */
export const UNLIMITED_TENANT = {
  maxPriority: 999,
  maxTasksPerJob: 100_000,
  maxPendingTasks: 100_000_000,
  jobsPerMinute: 1_000_000,
} as const;

/**
 * Statistics of the cell just made, as a running system has them: its machines, tenants and
 * quotas, not the tables its work will fill. A table analyzed while empty (no page, no row) makes
 * every index look equally cheap: a generic plan made then looks a task up by any index that
 * starts with the cell — reading the whole cell per task once the workload arrives — and is kept
 * until the next ANALYZE invalidates it. Commits caught in that window ran for up to a minute
 * each: the four-worker collapses of sessions 26 and 27 (scripts/cached-plan-probe.ts). Never
 * analyzed, the planner assumes ten pages and picks the primary key.
 */
export async function analyzeCell(pool: Queryable): Promise<void> {
  await pool.query("analyze omega.cells, omega.machines, omega.tenants, omega.quotas");
}
