import type { Resources } from "../../domain/resources.ts";
import type { Queryable } from "./queryable.ts";

/** A task a machine should run, as its agent sees it. */
export interface ClaimedTask {
  taskId: number;
  jobId: number;
  taskIndex: number;
  state: "placed" | "running";
  resources: Resources;
  /** From the job spec's `runtime` (simulated agents); null: until stopped. */
  runtime: { minMs: number; maxMs: number } | null;
  placedAt: Date;
}

export interface MachineClaims {
  cell: string;
  machine: string;
  state: string;
  /** Changes whenever the claims, their tasks' states or the machine's state change. */
  version: string;
  tasks: ClaimedTask[];
}

// The machine's version moves with its claims and state (every write bumps it); the agent row's
// generation with the tasks its agent reports running. Together: the version of this document.
const VERSION = "m.version || '.' || coalesce(a.generation, 0)";
const FROM = `
  from omega.machines m
  left join omega.machine_agents a on a.cell = m.cell and a.machine_id = m.id
  where m.cell = $1 and m.name = $2`;

/** The version of a machine's claims alone: one row by primary key, for a conditional GET. */
export async function machineClaimsVersion(
  db: Queryable,
  cell: string,
  machine: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ version: string }>(`select ${VERSION} as version ${FROM}`, [
    cell,
    machine,
  ]);
  return rows[0]?.version;
}

/** The tasks claimed on a machine, with the version they were read at (one statement, one snapshot). */
export async function machineClaims(
  db: Queryable,
  cell: string,
  machine: string,
): Promise<MachineClaims | undefined> {
  const { rows } = await db.query<{ state: string; version: string; tasks: ClaimedTask[] }>(
    `select m.state, ${VERSION} as version,
       (select coalesce(json_agg(json_build_object(
           'taskId', c.task_id, 'jobId', c.job_id, 'taskIndex', t.index, 'state', t.state,
           'resources', json_build_object('cpu', c.cpu, 'memory', c.memory, 'gpu', c.gpu, 'disk', c.disk),
           'runtime', case when j.runtime_min_ms is null then null
                      else json_build_object('minMs', j.runtime_min_ms, 'maxMs', j.runtime_max_ms) end,
           'placedAt', c.placed_at) order by c.task_id), '[]')
        from omega.claims c
        join omega.tasks t on t.cell = c.cell and t.id = c.task_id
        join omega.jobs j on j.cell = c.cell and j.id = c.job_id
        -- A held task's claim is a reservation (a pre-placed job waiting for its dependencies): not to start yet.
        where c.cell = m.cell and c.machine_id = m.id and not t.held) as tasks
     ${FROM}`,
    [cell, machine],
  );
  const row = rows[0];
  if (!row) return undefined;
  // json_build_object writes timestamps its own way; as Dates they are sent like every other time.
  const tasks = row.tasks.map((t) => ({ ...t, placedAt: new Date(t.placedAt) }));
  return { cell, machine, state: row.state, version: row.version, tasks };
}
