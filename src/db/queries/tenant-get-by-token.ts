import type { Queryable } from "./queryable.ts";

/** The tenant whose token hashes to `tokenHash` (the unique index on token_hash serves it). */
export async function tenantGetByToken(
  db: Queryable,
  tokenHash: Buffer,
): Promise<{ id: number; name: string; jobsPerMinute: number } | undefined> {
  const { rows } = await db.query<{ id: number; name: string; jobsPerMinute: number }>(
    `select id, name, jobs_per_minute as "jobsPerMinute" from omega.tenants where token_hash = $1`,
    [tokenHash],
  );
  return rows[0];
}
