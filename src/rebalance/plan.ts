import { CellModel } from "./cell-model.ts";
import { cellMetrics } from "./metrics.ts";
import { defragment } from "./strategies/defragment.ts";
import { highNodeUtilization } from "./strategies/high-node-utilization.ts";
import { lowNodeUtilization } from "./strategies/low-node-utilization.ts";
import { removeDuplicates } from "./strategies/remove-duplicates.ts";
import type { CellMetrics, PlannedMove, RebalanceSettings, RebalanceState } from "./types.ts";

export interface RebalancePlan {
  moves: PlannedMove[];
  /** The cell as read, and as it would be once every move is committed (and room made is used). */
  before: CellMetrics;
  after: CellMetrics;
}

/**
 * The moves one period makes: each strategy of the profile in turn, on a model that follows the
 * moves already planned, within `maxMovesPerPeriod` in all. Pure and deterministic: the same state
 * and settings give the same moves (the dry run shows what the worker would do).
 */
export function planRebalance(state: RebalanceState, settings: RebalanceSettings): RebalancePlan {
  const model = new CellModel(state);
  const before = cellMetrics(model);
  for (const strategy of settings.strategies) {
    const budget = settings.maxMovesPerPeriod - model.moves.length;
    if (budget <= 0) break;
    if (strategy === "LowNodeUtilization") lowNodeUtilization(model, settings, budget);
    else if (strategy === "HighNodeUtilization") highNodeUtilization(model, settings, budget);
    else if (strategy === "RemoveDuplicates") removeDuplicates(model, budget);
    else defragment(model, budget);
  }
  return { moves: model.moves, before, after: cellMetrics(model) };
}
