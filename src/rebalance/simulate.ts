import type { MachineView } from "../placement/types.ts";
import type { PlannedMove, RebalanceState } from "./types.ts";

/**
 * The state after `moves` were committed, as omega.commit_move leaves it: each claim on its new
 * machine, not running yet, and the moves remembered as recent. For tests and the in-memory bench;
 * the worker reads the state again from the database instead.
 */
export function applyMoves(state: RebalanceState, moves: readonly PlannedMove[]): RebalanceState {
  const machines = new Map<number, MachineView>(
    state.machines.map((m) => [m.id, { ...m, used: { ...m.used } }]),
  );
  const byTask = new Map(moves.map((m) => [m.taskId, m]));
  for (const move of moves) {
    const request = state.jobs.get(move.jobId)?.request;
    const from = machines.get(move.from);
    const to = machines.get(move.to);
    if (!request || !from || !to) continue;
    for (const d of ["cpu", "memory", "gpu", "disk"] as const) {
      from.used[d] -= request[d];
      to.used[d] += request[d];
    }
    from.tasks--;
    to.tasks++;
    to.version++;
    from.version++;
  }
  return {
    ...state,
    machines: [...machines.values()],
    claims: state.claims.map((c) => {
      const move = byTask.get(c.taskId);
      return move ? { ...c, machineId: move.to, running: false } : c;
    }),
    recentMoves: [...state.recentMoves, ...moves.map((m) => ({ taskId: m.taskId, from: m.from, to: m.to }))],
  };
}
