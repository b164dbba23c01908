import type { Scorer } from "../types.ts";
import { meanAfterPlacing } from "./allocation.ts";

/**
 * Kubernetes NodeResourcesBalancedAllocation: 100 × (1 − population standard deviation of the
 * utilisation fractions), each capped at 1.
 */
export function balancedScore(fractions: readonly number[]): number {
  if (fractions.length === 0) return 100;
  let mean = 0;
  for (const f of fractions) mean += f;
  mean /= fractions.length;
  let variance = 0;
  for (const f of fractions) variance += (f - mean) ** 2;
  return (1 - Math.sqrt(variance / fractions.length)) * 100;
}

/** Utilisation fraction of one dimension, capped at 1; a dimension with no capacity counts as full. */
export function utilisation(requested: number, capacity: number): number {
  return capacity <= 0 ? 1 : Math.min(1, requested / capacity);
}

const squared = (requested: number, capacity: number) => utilisation(requested, capacity) ** 2;

/**
 * Prefers machines whose dimensions stay evenly used, so none runs out while others sit idle.
 * Variance as E[f²] − E[f]², so scoring allocates nothing (same result as balancedScore).
 */
export const balancedAllocation: Scorer = (machine, job, inflight) => {
  const mean = meanAfterPlacing(machine, job, inflight, utilisation);
  const meanOfSquares = meanAfterPlacing(machine, job, inflight, squared);
  return (1 - Math.sqrt(Math.max(0, meanOfSquares - mean * mean))) * 100;
};
