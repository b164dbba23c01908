import type { Queryable } from "./queryable.ts";

/**
 * omega.cancel_workflow: cancels every job of the workflow that has not finished, in one
 * transaction. With a tenant, another tenant's workflow is not found (OM404). Returns how many.
 */
export async function workflowCancel(db: Queryable, id: number, tenant: string | null): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select omega.cancel_workflow($1, $2) as n", [id, tenant]);
  return Number(rows[0]?.n ?? 0);
}
