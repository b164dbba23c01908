import type { Kysely } from "kysely";
import type { Resources } from "../../domain/resources.ts";
import type { DB } from "../schema.ts";
import { resourcesOf } from "./resources-of.ts";

export interface Machine {
  cell: string;
  name: string;
  state: string;
  capacity: Resources;
  used: Resources;
  tasks: number;
  /** At most this many tasks on the machine (Kubernetes' max pods). */
  maxTasks: number;
  labels: Record<string, string>;
  taints: { key: string; value?: string }[];
  version: number;
}

/** A row shaped like omega.machine_usage (capacity_*, used_*) as a Machine. */
export function machineOf(row: Record<string, unknown>): Machine {
  return {
    cell: String(row.cell),
    name: String(row.machine),
    state: String(row.state),
    capacity: resourcesOf(row, "capacity_"),
    used: resourcesOf(row, "used_"),
    tasks: Number(row.tasks ?? 0),
    maxTasks: Number(row.max_tasks ?? 110),
    labels: (row.labels ?? {}) as Record<string, string>,
    taints: (row.taints ?? []) as { key: string; value?: string }[],
    version: Number(row.version),
  };
}

/** The machines of a cell with capacity, usage (summed from claims) and state, by name. */
export async function machineList(db: Kysely<DB>, cell: string): Promise<Machine[]> {
  const rows = await db
    .selectFrom("machine_usage")
    .selectAll()
    .where("cell", "=", cell)
    .orderBy("machine")
    .execute();
  return rows.map(machineOf);
}
