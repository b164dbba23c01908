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
  const { rows } = await db.query<{ id: number }>("select omega.submit_job($1, $2, $3) as id", [
    tenant,
    JSON.stringify(spec),
    clientToken ?? null,
  ]);
  const id = Number(rows[0]?.id);
  if (clientToken === undefined) return { id, created: true };
  // A job inserted by this transaction carries its now() as created_at: that tells a new job from a
  // repeated submission. (A statement of its own: the one that inserted cannot see its own row.)
  const job = await db.query<{ created: boolean }>(
    "select created_at = now() as created from omega.jobs where id = $1",
    [id],
  );
  return { id, created: job.rows[0]?.created === true };
}
