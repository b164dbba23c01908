import type { Scorer } from "../types.ts";
import { meanAfterPlacing } from "./allocation.ts";

/** Kubernetes mostRequestedScore: the share of capacity in use once the task is placed, 0–100. */
export function mostAllocatedScore(requested: number, capacity: number): number {
  if (capacity <= 0) return 0;
  return (Math.min(requested, capacity) * 100) / capacity;
}

/** Prefers fuller machines: bin packing, which keeps whole machines free for big tasks. */
export const mostAllocated: Scorer = (machine, job, inflight) =>
  meanAfterPlacing(machine, job, inflight, mostAllocatedScore);
