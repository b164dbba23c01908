import type { Constraints } from "../../domain/job-spec.ts";
import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";

export interface CapacityFit {
  /** How many more tasks of the shape fit on the cell's up machines now. */
  total: number;
  machines: { machine: string; fits: number }[];
}

/**
 * How many tasks of `shape` (at least one dimension above zero), under `constraints`, fit in the
 * cell now, and where: omega.how_many_fit, the rules commit_plan applies to a new placement.
 */
export async function capacityGet(
  db: Queryable,
  cell: string,
  shape: Resources,
  constraints: Constraints = {},
): Promise<CapacityFit> {
  const { rows } = await db.query<{ machine: string; fits: number }>(
    "select machine, fits from omega.how_many_fit($1, $2, $3)",
    [cell, JSON.stringify(shape), JSON.stringify(constraints)],
  );
  const machines = rows.map((r) => ({ machine: r.machine, fits: Number(r.fits) }));
  return { total: machines.reduce((sum, m) => sum + m.fits, 0), machines };
}
