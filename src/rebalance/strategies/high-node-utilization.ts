import type { CellModel } from "../cell-model.ts";
import type { RebalanceSettings } from "../types.ts";
import { pct } from "./low-node-utilization.ts";

/**
 * HighNodeUtilization (the descheduler's): packs work to free whole machines. A machine below
 * `lowThreshold` is emptied onto the fullest machines that can take its tasks (never another
 * underused one; as full as they fit, since packing is the point), and only if every one of its tasks finds a place
 * within the period's budget: half-emptying a machine frees nothing. Targets only ever get fuller,
 * so packing cannot oscillate; a profile cannot run it with LowNodeUtilization, which spreads.
 */
export function highNodeUtilization(model: CellModel, settings: RebalanceSettings, budget: number): void {
  const low = settings.lowThreshold;
  const start = model.moves.length;
  const sources = model
    .upMachines()
    .filter((m) => m.tasks > 0 && model.utilisation(m.id) < low)
    .sort((a, b) => model.utilisation(a.id) - model.utilisation(b.id) || a.id - b.id);
  for (const source of sources) {
    const left = budget - (model.moves.length - start);
    const claims = model.claimsOn(source.id);
    if (claims.length === 0 || claims.length > left || !claims.every((c) => model.movable(c))) continue;
    const keep = model.moves.length;
    const emptied = claims.every((claim) => {
      const request = model.job(claim.jobId)?.request;
      if (!request) return false;
      const target = model
        .upMachines()
        .filter((m) => m.id !== source.id && model.utilisation(m.id) >= low && model.canHost(claim, m.id))
        .sort((a, b) => model.utilisation(b.id) - model.utilisation(a.id) || a.id - b.id)[0];
      if (!target) return false;
      model.move(
        claim,
        target.id,
        "HighNodeUtilization",
        `emptying a machine at ${pct(model.utilisation(source.id))}`,
      );
      return true;
    });
    if (!emptied) model.rollback(keep);
  }
}
