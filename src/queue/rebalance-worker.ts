import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Pool } from "../db/pool.ts";
import { type MoveOutcome, moveCommit } from "../db/queries/move-commit.ts";
import { rebalanceStateGet } from "../db/queries/rebalance-state.ts";
import { registerScheduler } from "../db/scheduling.ts";
import type { Logger } from "../log.ts";
import { recordCellMetrics, recordMove } from "../metrics/rebalance.ts";
import { planRebalance } from "../rebalance/plan.ts";
import type { RebalanceProfile } from "../rebalance/profile.ts";

export interface RebalanceWorker {
  owner: string;
  /** Runs one period now (tests and the bench step the rebalancer with it). */
  runPeriod(): Promise<PeriodResult[]>;
  stop(): Promise<void>;
}

export interface PeriodResult {
  cell: string;
  planned: number;
  moved: number;
  outcomes: MoveOutcome[];
}

/**
 * A rebalancing worker: every period, for each cell of its database, reads the cell, plans moves
 * (src/rebalance) and commits them one by one through omega.commit_move — each its own transaction,
 * re-checked there, so several rebalancers (and every placing scheduler) can run at once. A period
 * ends early when the cell's rate limit is reached; the next one reads the cell afresh.
 */
export async function startRebalanceWorker(options: {
  pool: Pool;
  profile: RebalanceProfile;
  logger: Logger;
  /** Start the periodic loop (Default: true; tests may step with runPeriod instead). */
  periodic?: boolean;
}): Promise<RebalanceWorker> {
  const { pool, profile, logger } = options;
  const settings = profile.rebalance;
  const owner = `${profile.name}@${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  await registerScheduler(pool, profile.name, profile);
  let stopping = false;
  let current: Promise<unknown> = Promise.resolve();

  const rebalanceCell = async (cell: string): Promise<PeriodResult> => {
    const state = await rebalanceStateGet(pool, cell, settings.cooldownSeconds);
    const plan = planRebalance(state, settings);
    recordCellMetrics(profile.name, cell, plan.before);
    const outcomes: MoveOutcome[] = [];
    for (const move of plan.moves) {
      if (stopping) break;
      const outcome = await moveCommit(pool, { cell, scheduler: profile.name, worker: owner, move });
      recordMove(profile.name, move, outcome);
      outcomes.push(outcome);
      if (outcome.reason === "rate_limited") break;
    }
    const moved = outcomes.filter((o) => o.outcome === "moved").length;
    if (plan.moves.length > 0)
      logger.info(
        {
          cell,
          scheduler: profile.name,
          planned: plan.moves.length,
          moved,
          before: plan.before,
          after: plan.after,
        },
        "rebalance period",
      );
    return { cell, planned: plan.moves.length, moved, outcomes };
  };

  const runPeriod = async (): Promise<PeriodResult[]> => {
    const { rows } = await pool.query<{ name: string }>("select name from omega.cells order by name");
    const results: PeriodResult[] = [];
    for (const { name } of rows) {
      if (stopping) break;
      results.push(await rebalanceCell(name));
    }
    return results;
  };

  // One period at a time: the next is timed from the end of the last, however long it took.
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (stopping || options.periodic === false) return;
    timer = setTimeout(() => {
      current = runPeriod()
        .catch((error) => logger.warn({ err: error }, "rebalance period failed"))
        .finally(schedule);
    }, settings.periodMs);
  };
  schedule();
  logger.info({ scheduler: profile.name, owner, ...settings }, "rebalance worker started");

  return {
    owner,
    runPeriod,
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
