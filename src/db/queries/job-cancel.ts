import type { Queryable } from "./queryable.ts";

/**
 * omega.cancel_job: releases the job's claims and cancels its tasks in one transaction. With a
 * tenant, another tenant's job is refused as not found (OM404). Returns the job's state.
 */
export async function jobCancel(db: Queryable, jobId: number, tenant: string | null): Promise<string> {
  const { rows } = await db.query<{ state: string }>("select omega.cancel_job($1, $2) as state", [
    jobId,
    tenant,
  ]);
  return String(rows[0]?.state);
}
