import type { Queryable } from "./queryable.ts";

/** The tenant whose token hashes to `tokenHash` (the unique index on token_hash serves it). */
export async function tenantGetByToken(
  db: Queryable,
  tokenHash: Buffer,
): Promise<{ id: number; name: string; jobsPerMinute: number } | undefined> {
  // Named (planned once per connection): every tenant request authenticates through it.
  const { rows } = await db.query<{ id: number; name: string; jobsPerMinute: number }>({
    name: "omega.tenant_get_by_token",
    text: `select id, name, jobs_per_minute as "jobsPerMinute" from omega.tenants where token_hash = $1`,
    values: [tokenHash],
  });
  return rows[0];
}
