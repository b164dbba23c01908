import type { JobSpec } from "../../domain/job-spec.ts";
import type { Queryable } from "./queryable.ts";

/** omega.submit_job: validates the spec again, inserts the job and its tasks, wakes its scheduler. */
export async function jobSubmit(db: Queryable, tenant: string, spec: JobSpec): Promise<number> {
  const { rows } = await db.query<{ id: number }>("select omega.submit_job($1, $2) as id", [
    tenant,
    JSON.stringify(spec),
  ]);
  return Number(rows[0]?.id);
}
