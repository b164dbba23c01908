import type { Pool } from "../pool.ts";

export interface LostCheck {
  /** Machines taken down by this check. */
  lost: { cell: string; machine: string }[];
  /** Tasks returned to pending from lost machines. */
  tasksMoved: number;
}

/**
 * The lost-machine check: machines whose agent has been silent for `silenceMs` — or, in a cell run
 * by agents (it has an agent token), that never heartbeated and were registered that long ago (a
 * machine that never speaks is a black hole for the work placed on it) — are taken down, one
 * transaction each, and then the tasks of every lost machine still holding claims are returned to
 * pending, one transaction each (jobs must be locked before machines: see omega.return_lost_tasks).
 * The second step also finishes what a check that crashed between the two left behind.
 *
 * A gap of more than `maxGapMs` since the previous check (the database was down, no worker ran)
 * restarts the watch: nobody is taken down until the watch has lasted `silenceMs`.
 */
export async function checkLostMachines(pool: Pool, silenceMs: number, maxGapMs: number): Promise<LostCheck> {
  const silence = `${silenceMs} milliseconds`;
  const silent = await pool.query<{ cell: string; machine_id: number; name: string }>(
    `with watch as (select omega.watch_machines($2::interval) as since)
     select m.cell, m.id as machine_id, m.name from omega.machines m
     left join omega.machine_agents a on a.cell = m.cell and a.machine_id = m.id
     where a.lost_at is null
       and (a.last_heartbeat is not null or exists (select from omega.agent_tokens t where t.cell = m.cell))
       and coalesce(a.last_heartbeat, m.created_at) < now() - $1::interval
       and m.state in ('up', 'draining')
       and (select since from watch) <= now() - $1::interval
     order by m.cell, m.id`,
    [silence, `${maxGapMs} milliseconds`],
  );
  const lost: LostCheck["lost"] = [];
  for (const m of silent.rows) {
    const { rows } = await pool.query<{ lost: boolean }>(
      "select omega.mark_machine_lost($1, $2, $3::interval) as lost",
      [m.cell, m.machine_id, silence],
    );
    if (rows[0]?.lost) lost.push({ cell: m.cell, machine: m.name });
  }
  const holding = await pool.query<{ cell: string; machine_id: number }>(
    `select a.cell, a.machine_id from omega.machine_agents a
     where a.lost_at is not null
       and exists (select from omega.claims c where c.cell = a.cell and c.machine_id = a.machine_id)
     order by a.cell, a.machine_id`,
  );
  let tasksMoved = 0;
  for (const m of holding.rows) {
    const { rows } = await pool.query<{ n: number }>("select omega.return_lost_tasks($1, $2) as n", [
      m.cell,
      m.machine_id,
    ]);
    tasksMoved += rows[0]?.n ?? 0;
  }
  return { lost, tasksMoved };
}
