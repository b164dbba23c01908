import type { Queryable } from "./queryable.ts";

/** The cell whose agent token hashes to `tokenHash` (the unique index on token_hash serves it). */
export async function agentTokenGetCell(db: Queryable, tokenHash: Buffer): Promise<string | undefined> {
  const { rows } = await db.query<{ cell: string }>(
    "select cell from omega.agent_tokens where token_hash = $1",
    [tokenHash],
  );
  return rows[0]?.cell;
}
