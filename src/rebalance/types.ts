/**
 * Terminology
 * - move: one task's claim taken off one machine and the same task placed on another, committed in
 *   one transaction (omega.commit_move) or not at all.
 * - strategy: a rule that proposes moves (the Kubernetes descheduler's names):
 *   LowNodeUtilization, HighNodeUtilization, RemoveDuplicates (spread repair), Defragment.
 * - utilisation of a machine: its fullest dimension, used / capacity (cpu, memory, and gpu when it
 *   has any).
 * - unavailable (of a job): its tasks a move took away while they ran, not running again yet; the
 *   job's `disruptionBudget.maxUnavailable` bounds it.
 * - cooldown: a task moved is not moved again, and no move undoes another (the same two machines
 *   the other way), within it; machines a move emptied are not filled again, nor machines a move
 *   filled emptied, by this rebalancer within it. That is what keeps strategies from oscillating.
 *
 * Nothing under src/rebalance does I/O: the worker, the dry run and the benchmark run the same
 * planner on a state read from the database (src/db/queries/rebalance-state.ts) or built in memory.
 */
import type { Resources } from "../domain/resources.ts";
import type { Constraints, MachineView, SelectorTerm, TopologySpreadTerm } from "../placement/types.ts";

export const STRATEGIES = [
  "Defragment",
  "RemoveDuplicates",
  "LowNodeUtilization",
  "HighNodeUtilization",
] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface RebalanceSettings {
  /** Run in this order each period (Default: LowNodeUtilization, RemoveDuplicates, Defragment). */
  strategies: readonly StrategyName[];
  /** How often the rebalancer plans and commits moves (Default: 10 s). */
  periodMs: number;
  /** Below this utilisation a machine is underused (Default: 0.3). */
  lowThreshold: number;
  /** Above this utilisation a machine is overused; no move fills a machine past it (Default: 0.7). */
  highThreshold: number;
  /** Moves one worker commits per period (Default: 10). */
  maxMovesPerPeriod: number;
  /** Moves per minute in a cell, all rebalancers together; the commit enforces it (Default: 60). */
  maxMovesPerMinute: number;
  /** See the terminology above (Default: 600 s). */
  cooldownSeconds: number;
}

export interface ClaimView {
  taskId: number;
  jobId: number;
  machineId: number;
  /** Running on its machine (moving it makes it unavailable until its new machine runs it). */
  running: boolean;
}

export interface RebalanceJob {
  id: number;
  priority: number;
  request: Resources;
  constraints: Constraints;
  taskCount: number;
  gangMin: number | null;
  maxUnavailable: number | null;
  /** omega.job_unavailable as of the read. */
  unavailable: number;
  /** Labels, host ports, anti-affinity and topology spread, for jobs with any (vocabulary-fit.ts). */
  vocabulary?: MoveVocabulary;
}

/** What a move must respect of a job's placement vocabulary (SPEC "Placement vocabulary"). */
export interface MoveVocabulary {
  labels: Readonly<Record<string, string>>;
  ports: readonly number[];
  antiAffinity: readonly SelectorTerm[];
  topologySpread: readonly TopologySpreadTerm[];
}

/** A job with tasks waiting to be placed (what Defragment makes room for). */
export interface PendingJob extends RebalanceJob {
  pending: number;
}

export interface RecentMove {
  taskId: number;
  from: number;
  to: number;
}

/** What the planner reads: a cell, as of one read. */
export interface RebalanceState {
  machines: readonly MachineView[];
  claims: readonly ClaimView[];
  jobs: ReadonlyMap<number, RebalanceJob>;
  pending: readonly PendingJob[];
  /** Moves within the cooldown. */
  recentMoves: readonly RecentMove[];
}

export interface PlannedMove {
  taskId: number;
  jobId: number;
  from: number;
  to: number;
  toVersion: number;
  strategy: StrategyName;
  /** The job this move makes room for (Defragment). */
  forJob: number | null;
  why: string;
}

/** How good a placement of the cell is, before and after the planned moves. */
export interface CellMetrics {
  /** Highest minus lowest utilisation over up machines (0 = perfectly even). */
  utilisationSpread: number;
  /** Standard deviation of utilisation over up machines. */
  utilisationStddev: number;
  /** Up machines holding no claim (whole machines HighNodeUtilization frees). */
  emptyMachines: number;
  /** Tasks beyond their job's spread share or maxPerMachine. */
  spreadExcess: number;
  /** GPUs free on machines where no pending GPU task's request fits. */
  strandedGpus: number;
  /** Pending tasks of the largest pending gang or GPU job that fit now. */
  largestPendingFits: boolean;
}
