import type { Queryable } from "./queryable.ts";

/** omega.submit_workflow: every job of the workflow in one transaction, or none. Returns its id. */
export async function workflowSubmit(db: Queryable, tenant: string, spec: unknown): Promise<number> {
  const { rows } = await db.query<{ id: string }>("select omega.submit_workflow($1, $2) as id", [
    tenant,
    spec,
  ]);
  return Number(rows[0]?.id);
}
