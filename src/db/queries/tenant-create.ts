import type { Queryable } from "./queryable.ts";

export interface TenantRow {
  id: number;
  name: string;
  createdAt: Date;
}

/** Inserts a tenant with the hash of its token; undefined when the name is taken. */
export async function tenantCreate(
  db: Queryable,
  name: string,
  tokenHash: Buffer,
): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(
    `insert into omega.tenants (name, token_hash) values ($1, $2)
     on conflict (name) do nothing
     returning id, name, created_at as "createdAt"`,
    [name, tokenHash],
  );
  return rows[0];
}
