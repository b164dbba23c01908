import type { CellModel } from "../cell-model.ts";
import type { RebalanceSettings } from "../types.ts";

/**
 * LowNodeUtilization (the descheduler's): moves work from machines above `highThreshold` to
 * machines below `lowThreshold`, lowest priority first, until no machine is overused or none is
 * underused. A move must leave its target below both the high threshold and the utilisation its
 * source had: every move narrows the gap it is made for, so repeated periods converge instead of
 * trading load back and forth.
 */
export function lowNodeUtilization(model: CellModel, settings: RebalanceSettings, budget: number): void {
  const { lowThreshold: low, highThreshold: high } = settings;
  let planned = 0;
  while (planned < budget) {
    const up = model.upMachines();
    const sources = up.filter((m) => model.utilisation(m.id) > high);
    const targets = up.filter((m) => model.utilisation(m.id) < low);
    if (sources.length === 0 || targets.length === 0) return;
    sources.sort((a, b) => model.utilisation(b.id) - model.utilisation(a.id) || a.id - b.id);
    targets.sort((a, b) => model.utilisation(a.id) - model.utilisation(b.id) || a.id - b.id);
    if (!moveOne(model, sources, targets, high)) return;
    planned++;
  }
}

function moveOne(
  model: CellModel,
  sources: readonly { id: number }[],
  targets: readonly { id: number }[],
  high: number,
): boolean {
  for (const source of sources) {
    const before = model.utilisation(source.id);
    const claims = model
      .claimsOn(source.id)
      .filter((c) => model.movable(c))
      .sort(
        (a, b) =>
          (model.job(a.jobId)?.priority ?? 0) - (model.job(b.jobId)?.priority ?? 0) || a.taskId - b.taskId,
      );
    for (const claim of claims) {
      const request = model.job(claim.jobId)?.request;
      if (!request) continue;
      for (const target of targets) {
        const after = model.utilisation(target.id, { request, sign: 1 });
        if (after > high || after >= before || !model.canHost(claim, target.id)) continue;
        model.move(
          claim,
          target.id,
          "LowNodeUtilization",
          `source at ${pct(before)} above ${pct(high)}; target at ${pct(model.utilisation(target.id))}`,
        );
        return true;
      }
    }
  }
  return false;
}

export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}
