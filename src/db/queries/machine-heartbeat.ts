import type { Queryable } from "./queryable.ts";

export interface HeartbeatReply {
  cell: string;
  machine: string;
  state: string;
  /** The machine had been taken down as lost and is back in the state it had. */
  cameBack: boolean;
  /** Task ids the agent said it runs that are not (or no longer) claimed on this machine. */
  stop: number[];
}

/** omega.heartbeat: the machine is alive; a lost machine comes back; what to stop. */
export async function machineHeartbeat(
  db: Queryable,
  cell: string,
  machine: string,
  running: readonly number[],
): Promise<HeartbeatReply> {
  const { rows } = await db.query<{ machine: string; state: string; came_back: boolean; stop: number[] }>(
    "select * from omega.heartbeat($1, $2, $3)",
    [cell, machine, running],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.heartbeat returned no row");
  return {
    cell,
    machine: row.machine,
    state: row.state,
    cameBack: row.came_back,
    stop: row.stop.map(Number),
  };
}
