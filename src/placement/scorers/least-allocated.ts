import type { Scorer } from "../types.ts";
import { meanAfterPlacing } from "./allocation.ts";

/**
 * Kubernetes leastRequestedScore: the share of capacity still free once the task is placed, 0–100
 * (0 when the machine has none of the dimension, or the request would overflow it).
 */
export function leastAllocatedScore(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return ((capacity - requested) * 100) / capacity;
}

/** Prefers emptier machines, spreading load (Kubernetes NodeResourcesFit LeastAllocated). */
export const leastAllocated: Scorer = (machine, job, inflight) =>
  meanAfterPlacing(machine, job, inflight, leastAllocatedScore);
