import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";

export interface CapacityFit {
  /** How many more tasks of the shape fit on the cell's up machines now. */
  total: number;
  machines: { machine: string; fits: number }[];
}

// Per machine: the least, over dimensions the shape requests, of how many requests its free capacity
// holds. Dimensions requesting zero do not limit (least() skips the nulls).
const SQL = `
  select m.name as machine,
    least(
      case when $2::bigint > 0 then (m.cpu - m.used_cpu) / $2::bigint end,
      case when $3::bigint > 0 then (m.memory - m.used_memory) / $3::bigint end,
      case when $4::bigint > 0 then (m.gpu - m.used_gpu) / $4::bigint end,
      case when $5::bigint > 0 then (m.disk - m.used_disk) / $5::bigint end) as fits
  from omega.machines m
  where m.cell = $1 and m.state = 'up'
  order by m.name`;

/** How many tasks of `shape` (at least one dimension above zero) fit in the cell, and where. */
export async function capacityGet(db: Queryable, cell: string, shape: Resources): Promise<CapacityFit> {
  const { rows } = await db.query<{ machine: string; fits: number }>(SQL, [
    cell,
    shape.cpu,
    shape.memory,
    shape.gpu,
    shape.disk,
  ]);
  const machines = rows.map((r) => ({ machine: r.machine, fits: Number(r.fits) }));
  return { total: machines.reduce((sum, m) => sum + m.fits, 0), machines };
}
