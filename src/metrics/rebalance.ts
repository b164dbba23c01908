/** The rebalancer's metrics: what it moved, what the commit refused, and how the cell improved. */
import { Counter, Gauge } from "prom-client";
import type { MoveOutcome } from "../db/queries/move-commit.ts";
import type { CellMetrics, PlannedMove } from "../rebalance/types.ts";
import { registry } from "./registry.ts";

const registers = [registry];

const moves = new Counter({
  name: "omega_rebalance_moves_total",
  help: "Moves proposed by the rebalancer, by scheduler, strategy and result: moved (committed), or the reason omega.commit_move refused it",
  labelNames: ["scheduler", "strategy", "result"] as const,
  registers,
});

const cellGauge = new Gauge({
  name: "omega_rebalance_cell_metric",
  help: "The last period's reading of a cell, by scheduler, cell and metric (utilisationSpread, utilisationStddev, emptyMachines, spreadExcess, strandedGpus)",
  labelNames: ["scheduler", "cell", "metric"] as const,
  registers,
});

export function recordMove(scheduler: string, move: PlannedMove, outcome: MoveOutcome): void {
  moves.inc({ scheduler, strategy: move.strategy, result: outcome.reason ?? "moved" });
}

export function recordCellMetrics(scheduler: string, cell: string, metrics: CellMetrics): void {
  for (const metric of [
    "utilisationSpread",
    "utilisationStddev",
    "emptyMachines",
    "spreadExcess",
    "strandedGpus",
  ] as const)
    cellGauge.set({ scheduler, cell, metric }, metrics[metric]);
}
