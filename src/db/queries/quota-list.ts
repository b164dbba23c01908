import type { Kysely } from "kysely";
import type { Resources } from "../../domain/resources.ts";
import type { DB } from "../schema.ts";
import { resourcesOf } from "./resources-of.ts";

export interface Quota {
  tenant: string;
  cell: string;
  band: string;
  limit: Resources;
  used: Resources;
}

export function quotaOf(row: Record<string, unknown>): Quota {
  return {
    tenant: String(row.tenant),
    cell: String(row.cell),
    band: String(row.band),
    limit: resourcesOf(row, "limit_"),
    used: resourcesOf(row, "used_"),
  };
}

/** Quotas with their current usage (omega.quota_usage), all of them or one tenant's. */
export async function quotaList(db: Kysely<DB>, tenant?: string): Promise<Quota[]> {
  const rows = await db
    .selectFrom("quota_usage")
    .selectAll()
    .$if(tenant !== undefined, (q) => q.where("tenant", "=", tenant ?? ""))
    .orderBy("tenant")
    .orderBy("cell")
    .orderBy("band")
    .execute();
  return rows.map(quotaOf);
}
