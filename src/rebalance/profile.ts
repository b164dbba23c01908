import type { RebalanceSettings, StrategyName } from "./types.ts";

/** A rebalancing scheduler: what `omega worker --scheduler rebalance` runs. */
export interface RebalanceProfile {
  name: string;
  description: string;
  kind: "rebalance";
  rebalance: RebalanceSettings;
}

export const DEFAULT_REBALANCE: RebalanceSettings = Object.freeze({
  strategies: Object.freeze([
    "Defragment",
    "RemoveDuplicates",
    "LowNodeUtilization",
  ]) as readonly StrategyName[],
  periodMs: 10_000,
  lowThreshold: 0.3,
  highThreshold: 0.7,
  maxMovesPerPeriod: 10,
  maxMovesPerMinute: 60,
  cooldownSeconds: 600,
});

/**
 * The built-in rebalancer: makes room for the largest waiting gang or GPU job, repairs spread, and
 * moves work off machines above 70% to machines below 30%; at most 10 moves a period, 60 a minute
 * in a cell, no task moved twice in 10 minutes.
 */
export const rebalanceProfile = Object.freeze<RebalanceProfile>({
  name: "rebalance",
  description:
    "moves running work: Defragment, RemoveDuplicates, LowNodeUtilization every 10 s; at most 10 moves a period, 60 a minute",
  kind: "rebalance",
  rebalance: DEFAULT_REBALANCE,
});

/** LowNodeUtilization spreads and HighNodeUtilization packs: run together they would undo each other. */
export function conflictingStrategies(strategies: readonly StrategyName[]): string | null {
  return strategies.includes("LowNodeUtilization") && strategies.includes("HighNodeUtilization")
    ? "LowNodeUtilization and HighNodeUtilization undo each other: choose one"
    : null;
}

export function isRebalanceProfile(profile: { kind?: string }): profile is RebalanceProfile {
  return profile.kind === "rebalance";
}
