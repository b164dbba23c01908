import type { MachineBody } from "../../domain/job-spec.ts";
import { type Machine, machineOf } from "./machine-list.ts";
import type { Queryable } from "./queryable.ts";

// The procedure returns an omega.machines row; alias it to machine_usage's column names. A row it
// inserted carries this transaction's now() as created_at: that is how "created" is told apart.
const SQL = `
  select m.cell, m.name as machine, m.state,
    m.cpu as capacity_cpu, m.memory as capacity_memory, m.gpu as capacity_gpu, m.disk as capacity_disk,
    m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks, m.max_tasks, m.labels, m.taints, m.version,
    m.created_at = now() as created
  from omega.put_machine($1, $2, $3, $4, $5, $6) m`;

/** Registers or updates a machine (omega.put_machine); `created` is false for an update. */
export async function machinePut(
  db: Queryable,
  cell: string,
  name: string,
  body: MachineBody,
): Promise<{ machine: Machine; created: boolean }> {
  const { rows } = await db.query(SQL, [
    cell,
    name,
    JSON.stringify(body.resources),
    JSON.stringify(body.labels ?? {}),
    JSON.stringify(body.taints ?? []),
    body.maxTasks ?? null,
  ]);
  const row = rows[0] as Record<string, unknown>;
  return { machine: machineOf(row), created: row.created === true };
}
