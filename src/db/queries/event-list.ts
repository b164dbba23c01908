import type { Queryable } from "./queryable.ts";

/** One row of omega.events with what the API filters and reports it by (its job's tenant). */
export interface ClusterEvent {
  id: number;
  at: Date;
  cell: string;
  jobId: number;
  /** Null for an event of the job as a whole. */
  taskId: number | null;
  taskIndex: number | null;
  kind: string;
  machine: string | null;
  reason: string | null;
  /** The reason as the job's tenant reads it (omega.tenant_reason: no other tenant's job ids). */
  tenantReason: string | null;
  tenant: string;
  tenantId: number;
  /** When the job was submitted: placed events give submit→placed latency. */
  jobCreatedAt: Date;
}

const COLUMNS = `e.id, e.at, e.cell, e.job_id as "jobId", e.task_id as "taskId", e.task_index as "taskIndex",
  e.kind, e.machine, e.reason, omega.tenant_reason(e.reason) as "tenantReason", t.name as tenant, j.tenant_id as "tenantId", j.created_at as "jobCreatedAt"`;
const FROM = `omega.events e
  join omega.jobs j on j.cell = e.cell and j.id = e.job_id
  join omega.tenants t on t.id = j.tenant_id`;

/** The events one statement wrote (a NOTIFY's range), by the primary key (cell, id). */
export async function eventRange(
  db: Queryable,
  cell: string,
  lo: number,
  hi: number,
): Promise<ClusterEvent[]> {
  // Named, so each connection plans it once (the feed reads a range per commit under load; planning
  // it took 0.28 ms a call, longer than reading it).
  const { rows } = await db.query<ClusterEvent>({
    name: "omega.event_range",
    text: `select ${COLUMNS} from ${FROM} where e.cell = $1 and e.id between $2 and $3 order by e.id`,
    values: [cell, lo, hi],
  });
  return rows;
}

const WHERE = "e.cell = $1 and e.id > $2 and ($3::bigint is null or j.tenant_id = $3)";
const AFTER = `select ${COLUMNS} from ${FROM} where ${WHERE} order by e.id limit $4`;
const LATEST = `select ${COLUMNS} from ${FROM} where ${WHERE} order by e.id desc limit $4`;

/**
 * Events after `after` (or, without it, the latest), oldest first, at most `limit`: of one cell or
 * of every cell (one indexed range read per cell, merged — events are keyed by cell), of one
 * tenant's jobs when `tenantId`.
 */
export async function eventList(
  db: Queryable,
  options: {
    after?: number | undefined;
    limit: number;
    cell?: string | undefined;
    tenantId?: number | undefined;
  },
): Promise<ClusterEvent[]> {
  const latest = options.after === undefined;
  const cells = options.cell
    ? [options.cell]
    : (await db.query<{ name: string }>("select name from omega.cells order by name")).rows.map(
        (r) => r.name,
      );
  const all: ClusterEvent[] = [];
  for (const cell of cells) {
    const { rows } = await db.query<ClusterEvent>(latest ? LATEST : AFTER, [
      cell,
      options.after ?? 0,
      options.tenantId ?? null,
      options.limit,
    ]);
    all.push(...rows);
  }
  all.sort((a, b) => a.id - b.id);
  return latest ? all.slice(-options.limit) : all.slice(0, options.limit);
}

/** A job's events after `after`, oldest first (the caller has checked who may see the job). */
export async function jobEventList(
  db: Queryable,
  job: { cell: string; id: number },
  after: number,
  limit: number,
): Promise<ClusterEvent[]> {
  const { rows } = await db.query<ClusterEvent>(
    `select ${COLUMNS} from ${FROM} where e.cell = $1 and e.job_id = $2 and e.id > $3 order by e.id limit $4`,
    [job.cell, job.id, after, limit],
  );
  return rows;
}
