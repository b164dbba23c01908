import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";
import { resourcesOf } from "./resources-of.ts";

export interface CellSummary {
  name: string;
  createdAt: Date;
  machines: { total: number; up: number; draining: number; down: number };
  /** Summed over every machine of the cell. */
  capacity: Resources;
  used: Resources;
  /** Capacity not yet claimed on machines that take new work (state up). */
  free: Resources;
  tasks: number;
}

const SQL = `
  select c.name, c.created_at,
    count(u.machine)::int as total,
    (count(*) filter (where u.state = 'up'))::int as up,
    (count(*) filter (where u.state = 'draining'))::int as draining,
    (count(*) filter (where u.state = 'down'))::int as down,
    coalesce(sum(u.capacity_cpu), 0)::bigint as capacity_cpu,
    coalesce(sum(u.capacity_memory), 0)::bigint as capacity_memory,
    coalesce(sum(u.capacity_gpu), 0)::bigint as capacity_gpu,
    coalesce(sum(u.capacity_disk), 0)::bigint as capacity_disk,
    coalesce(sum(u.used_cpu), 0)::bigint as used_cpu,
    coalesce(sum(u.used_memory), 0)::bigint as used_memory,
    coalesce(sum(u.used_gpu), 0)::bigint as used_gpu,
    coalesce(sum(u.used_disk), 0)::bigint as used_disk,
    coalesce(sum(u.capacity_cpu - u.used_cpu) filter (where u.state = 'up'), 0)::bigint as free_cpu,
    coalesce(sum(u.capacity_memory - u.used_memory) filter (where u.state = 'up'), 0)::bigint as free_memory,
    coalesce(sum(u.capacity_gpu - u.used_gpu) filter (where u.state = 'up'), 0)::bigint as free_gpu,
    coalesce(sum(u.capacity_disk - u.used_disk) filter (where u.state = 'up'), 0)::bigint as free_disk,
    coalesce(sum(u.tasks), 0)::bigint as tasks
  from omega.cells c
  left join omega.machine_usage u on u.cell = c.name
  where $1::text is null or c.name = $1
  group by c.name, c.created_at
  order by c.name`;

function cellOf(row: Record<string, unknown>): CellSummary {
  return {
    name: String(row.name),
    createdAt: row.created_at as Date,
    machines: {
      total: Number(row.total),
      up: Number(row.up),
      draining: Number(row.draining),
      down: Number(row.down),
    },
    capacity: resourcesOf(row, "capacity_"),
    used: resourcesOf(row, "used_"),
    free: resourcesOf(row, "free_"),
    tasks: Number(row.tasks),
  };
}

/** Every cell with its capacity and usage totals (from omega.machine_usage). */
export async function cellList(db: Queryable): Promise<CellSummary[]> {
  const { rows } = await db.query(SQL, [null]);
  return rows.map(cellOf);
}

export async function cellGet(db: Queryable, name: string): Promise<CellSummary | undefined> {
  const { rows } = await db.query(SQL, [name]);
  return rows[0] ? cellOf(rows[0]) : undefined;
}

export async function cellExists(db: Queryable, name: string): Promise<boolean> {
  const { rows } = await db.query("select from omega.cells where name = $1", [name]);
  return rows.length > 0;
}
