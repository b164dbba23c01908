import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";
import { type Quota, quotaOf } from "./quota-list.ts";

/** A quota's cohort and its borrowing and lending limits (SPEC "Sharing"). */
export interface QuotaSharing {
  cohort?: string;
  borrowingLimit?: Partial<Resources>;
  lendingLimit?: Partial<Resources>;
}

/**
 * Sets the quota of (tenant, cell, band) through omega.put_quota, which refuses a limit below
 * current usage or a cohort change that would take back what is lent now (OM409), limits without a
 * cohort (OM422), an unknown tenant or cell (OM404), and wakes work waiting on quota. Run it in a
 * transaction: the quota is read back with its usage, borrowed and lent.
 */
export async function quotaPut(
  db: Queryable,
  tenant: string,
  cell: string,
  band: "batch" | "production",
  limit: Resources,
  sharing: QuotaSharing = {},
): Promise<{ quota: Quota; created: boolean }> {
  const { rows } = await db.query<{ created: boolean }>(
    "select created from omega.put_quota($1, $2, $3, $4, $5, $6, $7)",
    [
      tenant,
      cell,
      band,
      limit,
      sharing.cohort ?? null,
      sharing.borrowingLimit ?? null,
      sharing.lendingLimit ?? null,
    ],
  );
  const { rows: read } = await db.query(
    "select * from omega.quota_usage where tenant = $1 and cell = $2 and band = $3",
    [tenant, cell, band],
  );
  return { quota: quotaOf(read[0] as Record<string, unknown>), created: rows[0]?.created === true };
}
