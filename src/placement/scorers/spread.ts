import { labelOf } from "../labels.ts";
import type { Scorer } from "../types.ts";

/**
 * Kubernetes PodTopologySpread normalisation: 100 × (max + min − count) / max, so the value with the
 * fewest of the job's tasks scores 100 and a gap of one task costs little when counts are large.
 */
export function spreadScore(count: number, min: number, max: number): number {
  return max <= 0 ? 100 : (100 * (max + min - count)) / max;
}

/**
 * Prefers machines whose spread-label value (e.g. zone) holds the fewest of the job's tasks.
 * Machines without the label score 0; without a spread label every machine scores 0 (no opinion).
 */
export const spread: Scorer = (machine, _job, _inflight, context) => {
  const tally = context.spread;
  if (!tally) return 0;
  const value = labelOf(machine.labels, tally.label);
  return value === undefined ? 0 : spreadScore(tally.countOf(value), tally.min, tally.max);
};
