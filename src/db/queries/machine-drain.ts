import { type Machine, machineOf } from "./machine-list.ts";
import type { Queryable } from "./queryable.ts";

const SQL = `
  select m.cell, m.name as machine, m.state,
    m.cpu as capacity_cpu, m.memory as capacity_memory, m.gpu as capacity_gpu, m.disk as capacity_disk,
    m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks, m.labels, m.taints, m.version
  from omega.drain_machine($1, $2, make_interval(secs => $3::double precision / 1000)) m`;

/**
 * omega.drain_machine: no new placements, and the machine's tasks evicted (whole gangs) so they are
 * placed elsewhere; what is still there after `deadlineMs` is evicted then.
 */
export async function machineDrain(
  db: Queryable,
  cell: string,
  name: string,
  deadlineMs: number,
): Promise<Machine> {
  const { rows } = await db.query(SQL, [cell, name, deadlineMs]);
  return machineOf(rows[0] as Record<string, unknown>);
}
