import type { Queryable } from "./queryable.ts";

/**
 * Sets a cell's agent token hash, replacing the previous one (which stops working at commit).
 * Undefined when the cell does not exist.
 */
export async function agentTokenRotate(
  db: Queryable,
  cell: string,
  tokenHash: Buffer,
): Promise<{ cell: string; createdAt: Date } | undefined> {
  const { rows } = await db.query<{ cell: string; createdAt: Date }>(
    `insert into omega.agent_tokens (cell, token_hash)
     select name, $2 from omega.cells where name = $1
     on conflict (cell) do update set token_hash = excluded.token_hash, created_at = now()
     returning cell, created_at as "createdAt"`,
    [cell, tokenHash],
  );
  return rows[0];
}
