import type { Scorer } from "../types.ts";
import { requestedAfter } from "./allocation.ts";

/**
 * Kubernetes NodeResourcesBalancedAllocation: 100 × (1 − population standard deviation of the
 * utilisation fractions), each capped at 1. A machine with no capacity in a dimension counts as full.
 */
export function balancedScore(fractions: readonly number[]): number {
  if (fractions.length === 0) return 100;
  let mean = 0;
  for (const f of fractions) mean += f;
  mean /= fractions.length;
  let variance = 0;
  for (const f of fractions) variance += (f - mean) ** 2;
  variance /= fractions.length;
  return (1 - Math.sqrt(variance)) * 100;
}

/** Utilisation fraction of one dimension, capped at 1. */
export function utilisation(requested: number, capacity: number): number {
  return capacity <= 0 ? 1 : Math.min(1, requested / capacity);
}

/** Prefers machines whose dimensions stay evenly used, so none runs out while others sit idle. */
export const balancedAllocation: Scorer = (machine, job, inflight) => {
  const pairs = requestedAfter(machine, job, inflight);
  const fractions: number[] = [];
  for (let i = 0; i < pairs.length; i += 2) fractions.push(utilisation(pairs[i] ?? 0, pairs[i + 1] ?? 0));
  return balancedScore(fractions);
};
