import { type Machine, machineOf } from "./machine-list.ts";
import type { Queryable } from "./queryable.ts";

const SQL = `
  select m.cell, m.name as machine, m.state,
    m.cpu as capacity_cpu, m.memory as capacity_memory, m.gpu as capacity_gpu, m.disk as capacity_disk,
    m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks, m.labels, m.taints, m.version
  from omega.set_machine_state($1, $2, $3) m`;

/** omega.set_machine_state: 'draining' stops new placements, 'up' undrains, 'down' precedes removal. */
export async function machineSetState(
  db: Queryable,
  cell: string,
  name: string,
  state: "up" | "draining" | "down",
): Promise<Machine> {
  const { rows } = await db.query(SQL, [cell, name, state]);
  return machineOf(rows[0] as Record<string, unknown>);
}
