import type { JobSpec } from "../../domain/job-spec.ts";
import type { Queryable } from "./queryable.ts";

/**
 * omega.submit_job: validates the spec again, inserts the job and its tasks, wakes its scheduler.
 * With a client token (the Idempotency-Key), a repeat of an earlier submission returns that job,
 * `created` false; the same token with another spec is refused (OM422).
 */
export async function jobSubmit(
  db: Queryable,
  tenant: string,
  spec: JobSpec,
  clientToken?: string,
): Promise<{ id: number; created: boolean }> {
  // A job inserted by this transaction carries its now() as created_at: that tells a new job from
  // a repeated submission.
  const { rows } = await db.query<{ id: number; created: boolean }>(
    `select s.id, (select j.created_at = now() from omega.jobs j where j.id = s.id) as created
     from (select omega.submit_job($1, $2, $3) as id) s`,
    [tenant, JSON.stringify(spec), clientToken ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.submit_job returned no row");
  return { id: Number(row.id), created: row.created === true };
}
