import type { Queryable } from "./queryable.ts";

export type MissingQuota = "unlimited" | "none";

/** What a missing quota means in a cell, per band. */
export interface QuotaPolicy {
  cell: string;
  /** (Default: unlimited.) */
  batch: MissingQuota;
  /** (Default: none: production needs a quota.) */
  production: MissingQuota;
}

const COLUMNS = `name as cell, missing_quota_batch as batch, missing_quota_production as production`;

export async function quotaPolicyGet(db: Queryable, cell: string): Promise<QuotaPolicy | undefined> {
  const { rows } = await db.query<QuotaPolicy>(`select ${COLUMNS} from omega.cells where name = $1`, [cell]);
  return rows[0];
}

/** omega.set_quota_policy: changes the bands given (validated there), returns the policy. */
export async function quotaPolicySet(db: Queryable, cell: string, policy: unknown): Promise<QuotaPolicy> {
  const { rows } = await db.query<QuotaPolicy>(
    `select ${COLUMNS} from omega.set_quota_policy($1, $2::jsonb)`,
    [cell, JSON.stringify(policy)],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.set_quota_policy returned no row");
  return row;
}
