import type { Kysely } from "kysely";
import type { Resources } from "../../domain/resources.ts";
import type { DB } from "../schema.ts";
import { resourcesOf } from "./resources-of.ts";

/** A tenant's dominant-resource share of a cell (omega.tenant_shares). */
export interface Share {
  cell: string;
  tenant: string;
  weight: number;
  used: Resources;
  tasks: number;
  /** Fractions of the cell's up capacity. */
  cpuShare: number;
  memoryShare: number;
  gpuShare: number;
  /** The largest of the three. */
  dominantShare: number;
  /** dominantShare / weight: within a priority, the lowest is served first. */
  weightedShare: number;
}

/** Shares per (cell, tenant), all or one tenant's, optionally in one cell; highest weighted first. */
export async function shareList(
  db: Kysely<DB>,
  filter: { tenant?: string; cell?: string },
): Promise<Share[]> {
  const rows = await db
    .selectFrom("tenant_shares")
    .selectAll()
    .$if(filter.tenant !== undefined, (q) => q.where("tenant", "=", filter.tenant ?? ""))
    .$if(filter.cell !== undefined, (q) => q.where("cell", "=", filter.cell ?? ""))
    .orderBy("cell")
    .orderBy("weighted_share", "desc")
    .orderBy("tenant")
    .execute();
  return rows.map((r) => ({
    cell: String(r.cell),
    tenant: String(r.tenant),
    weight: Number(r.weight),
    used: resourcesOf(r, "used_"),
    tasks: Number(r.tasks ?? 0),
    cpuShare: Number(r.cpu_share ?? 0),
    memoryShare: Number(r.memory_share ?? 0),
    gpuShare: Number(r.gpu_share ?? 0),
    dominantShare: Number(r.dominant_share ?? 0),
    weightedShare: Number(r.weighted_share ?? 0),
  }));
}
