import type { Queryable } from "./queryable.ts";

/** omega.set_tenant_weight: the tenant's weight in fair sharing (OM404 unknown, OM422 out of range). */
export async function tenantWeightSet(
  db: Queryable,
  tenant: string,
  weight: number,
): Promise<{ name: string; weight: number }> {
  const { rows } = await db.query<{ name: string; weight: number }>(
    "select tenant as name, weight from omega.set_tenant_weight($1, $2)",
    [tenant, weight],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.set_tenant_weight returned no row");
  return row;
}
