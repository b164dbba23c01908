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

/**
 * A page of the machines of a cell with capacity, usage (summed from claims) and state, by name:
 * those after `after`, at most `limit` (a cell of 50,000 machines is not one response). `next` is
 * the name to pass as `after` for the following page, null on the last.
 */
export async function machineList(
  db: Kysely<DB>,
  cell: string,
  page: { after?: string | undefined; limit: number },
): Promise<{ machines: Machine[]; next: string | null }> {
  let query = db.selectFrom("machine_usage").selectAll().where("cell", "=", cell);
  if (page.after !== undefined) query = query.where("machine", ">", page.after);
  const rows = await query
    .orderBy("machine")
    .limit(page.limit + 1)
    .execute();
  const machines = rows.slice(0, page.limit).map(machineOf);
  return { machines, next: rows.length > page.limit ? (machines.at(-1)?.name ?? null) : null };
}
