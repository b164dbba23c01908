import type { Queryable } from "./queryable.ts";

export interface JobEvent {
  id: number;
  at: Date;
  kind: string;
  /** Null for an event of the job as a whole. */
  taskIndex: number | null;
  taskId: number | null;
  machine: string | null;
  reason: string | null;
}

/**
 * A page of a job's events in order (the job owned by `tenantId` when given); undefined when there
 * is no such job for this caller. `next` is the cursor of the following page, null on the last.
 */
export async function jobEvents(
  db: Queryable,
  jobId: number,
  options: { tenantId?: number | undefined; after: number; limit: number },
): Promise<{ events: JobEvent[]; next: number | null } | undefined> {
  const job = await db.query<{ cell: string }>(
    "select cell from omega.jobs where id = $1 and ($2::bigint is null or tenant_id = $2)",
    [jobId, options.tenantId ?? null],
  );
  const cell = job.rows[0]?.cell;
  if (cell === undefined) return undefined;
  const { rows } = await db.query<JobEvent>(
    // A tenant reads tenant-neutral reasons (omega.tenant_reason): no other tenant's job ids.
    `select id, at, kind, task_index as "taskIndex", task_id as "taskId", machine,
       case when $5 then omega.tenant_reason(reason) else reason end as reason
     from omega.events where cell = $1 and job_id = $2 and id > $3 order by id limit $4`,
    [cell, jobId, options.after, options.limit + 1, options.tenantId !== undefined],
  );
  const events = rows.slice(0, options.limit);
  const next = rows.length > options.limit ? (events[events.length - 1]?.id ?? null) : null;
  return { events, next };
}
