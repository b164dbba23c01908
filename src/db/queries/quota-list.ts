import type { Kysely } from "kysely";
import type { Resources } from "../../domain/resources.ts";
import type { DB } from "../schema.ts";
import { resourcesOf } from "./resources-of.ts";

export interface Quota {
  tenant: string;
  cell: string;
  band: string;
  /** The quota set (its nominal quota). */
  limit: Resources;
  used: Resources;
  /** SPEC "Sharing": the cohort it lends to and borrows from, or null. */
  cohort: string | null;
  nominal: Resources;
  /** What its claims use beyond its nominal quota, lent by the cohort's other members. */
  borrowed: Resources;
  /** What of its nominal quota the cohort's other members use now. */
  lent: Resources;
  /** Only the dimensions limited (null: no limit at all). */
  borrowingLimit: Partial<Resources> | null;
  lendingLimit: Partial<Resources> | null;
}

/** The dimensions of `<prefix>*` that are set, or null when none is. */
function limitsOf(row: Record<string, unknown>, prefix: string): Partial<Resources> | null {
  const out: Partial<Resources> = {};
  for (const d of ["cpu", "memory", "gpu", "disk"] as const) {
    const v = row[`${prefix}${d}`];
    if (v !== null && v !== undefined) out[d] = Number(v);
  }
  return Object.keys(out).length > 0 ? out : null;
}

export function quotaOf(row: Record<string, unknown>): Quota {
  return {
    tenant: String(row.tenant),
    cell: String(row.cell),
    band: String(row.band),
    limit: resourcesOf(row, "limit_"),
    used: resourcesOf(row, "used_"),
    cohort: row.cohort === null || row.cohort === undefined ? null : String(row.cohort),
    nominal: resourcesOf(row, "nominal_"),
    borrowed: resourcesOf(row, "borrowed_"),
    lent: resourcesOf(row, "lent_"),
    borrowingLimit: limitsOf(row, "borrowing_limit_"),
    lendingLimit: limitsOf(row, "lending_limit_"),
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
