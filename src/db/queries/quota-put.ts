import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";
import { type Quota, quotaOf } from "./quota-list.ts";

/**
 * Sets the quota of (tenant, cell, band) through omega.put_quota, which refuses a limit below
 * current usage (OM409) and an unknown tenant or cell (OM404), and wakes work waiting on quota.
 */
export async function quotaPut(
  db: Queryable,
  tenant: string,
  cell: string,
  band: "batch" | "production",
  limit: Resources,
): Promise<{ quota: Quota; created: boolean }> {
  const { rows } = await db.query(
    `select created, cpu as limit_cpu, memory as limit_memory, gpu as limit_gpu, disk as limit_disk,
       used_cpu, used_memory, used_gpu, used_disk
     from omega.put_quota($1, $2, $3, $4)`,
    [tenant, cell, band, limit],
  );
  const row = rows[0] as Record<string, unknown>;
  return { quota: quotaOf({ ...row, tenant, cell, band }), created: row.created === true };
}
