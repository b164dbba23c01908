import { moveCommit } from "../db/queries/move-commit.ts";
import { rebalanceStateGet } from "../db/queries/rebalance-state.ts";
import { planRebalance } from "../rebalance/plan.ts";
import { DEFAULT_REBALANCE } from "../rebalance/profile.ts";
import type { CellMetrics, RebalanceSettings } from "../rebalance/types.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { LAYOUTS, prepareCell } from "./rebalance-layouts.ts";
import { type Cell, printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";

export interface RebalanceBenchOptions {
  machines: number;
  /** Periods at most per case (it stops earlier when a period moves nothing). */
  periods: number;
}

const CELL = "rebalance";
const NUMERIC = [
  "utilisationSpread",
  "utilisationStddev",
  "emptyMachines",
  "spreadExcess",
  "strandedGpus",
] as const;

/**
 * Scenario `rebalance` (issue 16): for each strategy, a cell laid out badly on purpose (skewed,
 * sparse, spread broken by a zone coming back, GPUs fragmented), then rebalanced period after
 * period — read the cell, plan, commit each move through omega.commit_move, as the worker does —
 * until a period moves nothing. Reports each cell metric before and after, its improvement per
 * moved task, and what a move and a period cost.
 */
export async function runRebalanceBench(options: RebalanceBenchOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const rows: Record<string, Cell>[] = [];
  let machine: Awaited<ReturnType<typeof describeMachine>> | undefined;
  try {
    for (const layout of LAYOUTS) {
      const db = await databases.create(`rebalance_${layout.name}`);
      try {
        if (!machine) {
          machine = await describeMachine(db.pool, server.kind);
          console.log(machineLine(machine));
        }
        await prepareCell(db.pool, CELL, options.machines);
        const tasks = await layout.build(db.pool, CELL, options.machines);
        const settings: RebalanceSettings = {
          ...DEFAULT_REBALANCE,
          strategies: [layout.strategy],
          maxMovesPerPeriod: 100_000,
          maxMovesPerMinute: 1_000_000,
        };
        await db.pool.query("select omega.register_scheduler('rebalance', $1)", [
          { kind: "rebalance", rebalance: settings },
        ]);
        const run = await rebalance(db.pool, settings, options.periods);
        const row: Record<string, Cell> = {
          case: layout.name,
          strategy: layout.strategy,
          machines: options.machines,
          tasks,
          moves: run.moves,
          rejected: run.rejected,
          periods: run.periods,
          planMsPerPeriod: round(run.planMs / run.periods, 1),
          commitMsPerMove: run.moves ? round(run.commitMs / (run.moves + run.rejected), 2) : null,
        };
        for (const m of NUMERIC) {
          row[`${m}Before`] = run.before[m];
          row[`${m}After`] = run.after[m];
          row[`${m}PerMove`] = run.moves ? round((run.before[m] - run.after[m]) / run.moves, 4) : 0;
        }
        row.largestPendingFitsBefore = run.before.largestPendingFits;
        row.largestPendingFitsAfter = run.after.largestPendingFits;
        rows.push(row);
      } finally {
        await db.drop();
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  printTable(
    `rebalance: ${options.machines} machines, each strategy on the layout it repairs (improvement per moved task)`,
    rows.map((r) => ({
      case: r.case ?? null,
      strategy: r.strategy ?? null,
      moves: r.moves ?? null,
      periods: r.periods ?? null,
      "ms/move": r.commitMsPerMove ?? null,
      "ms/plan": r.planMsPerPeriod ?? null,
      spread: `${r.utilisationSpreadBefore}→${r.utilisationSpreadAfter}`,
      stddev: `${r.utilisationStddevBefore}→${r.utilisationStddevAfter}`,
      empty: `${r.emptyMachinesBefore}→${r.emptyMachinesAfter}`,
      spreadExcess: `${r.spreadExcessBefore}→${r.spreadExcessAfter}`,
      strandedGpus: `${r.strandedGpusBefore}→${r.strandedGpusAfter}`,
      gangFits: `${r.largestPendingFitsBefore}→${r.largestPendingFitsAfter}`,
    })),
  );
  if (!machine) throw new Error("no case was measured");
  const file = await writeResults("rebalance", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    rows,
  });
  console.log(`wrote ${file}`);
}

interface Run {
  before: CellMetrics;
  after: CellMetrics;
  moves: number;
  rejected: number;
  periods: number;
  planMs: number;
  commitMs: number;
}

async function rebalance(
  pool: Parameters<typeof rebalanceStateGet>[0],
  settings: RebalanceSettings,
  maxPeriods: number,
): Promise<Run> {
  let before: CellMetrics | undefined;
  let after: CellMetrics | undefined;
  let moves = 0;
  let rejected = 0;
  let periods = 0;
  let planMs = 0;
  let commitMs = 0;
  while (periods < maxPeriods) {
    const t0 = performance.now();
    const state = await rebalanceStateGet(pool, CELL, settings.cooldownSeconds);
    const plan = planRebalance(state, settings);
    planMs += performance.now() - t0;
    periods++;
    before ??= plan.before;
    after = plan.before;
    if (plan.moves.length === 0) break;
    const t1 = performance.now();
    for (const move of plan.moves) {
      const outcome = await moveCommit(pool, { cell: CELL, scheduler: "rebalance", worker: "bench", move });
      if (outcome.outcome === "moved") moves++;
      else rejected++;
    }
    commitMs += performance.now() - t1;
  }
  if (!before || !after) throw new Error("no period ran");
  return { before, after, moves, rejected, periods, planMs, commitMs };
}
