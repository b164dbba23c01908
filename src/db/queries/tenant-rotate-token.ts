import type { Queryable } from "./queryable.ts";
import type { TenantRow } from "./tenant-create.ts";

/** Replaces a tenant's token hash: the old token stops working at commit. Undefined: no such tenant. */
export async function tenantRotateToken(
  db: Queryable,
  name: string,
  tokenHash: Buffer,
): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(
    `update omega.tenants set token_hash = $2 where name = $1
     returning id, name, created_at as "createdAt"`,
    [name, tokenHash],
  );
  return rows[0];
}
