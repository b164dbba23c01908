import { DIMENSIONS, type Dimension, type Resources } from "../../domain/resources.ts";
import type { InFlightView, JobView, MachineView } from "../types.ts";

/** Dimensions the resource scorers weigh: cpu and memory always, gpu and disk where the machine has any. */
export function isScored(dimension: Dimension, capacity: Resources): boolean {
  return dimension === "cpu" || dimension === "memory" || capacity[dimension] > 0;
}

/**
 * What the machine would have in use once the task is placed (snapshot + plan + request), per
 * scored dimension, as [requested, capacity] pairs flattened: r0, c0, r1, c1, ...
 */
export function requestedAfter(machine: MachineView, job: JobView, inflight: InFlightView): number[] {
  const plan = inflight.used(machine.id);
  const out: number[] = [];
  for (const d of DIMENSIONS) {
    if (!isScored(d, machine.capacity)) continue;
    out.push(machine.used[d] + plan[d] + job.request[d], machine.capacity[d]);
  }
  return out;
}

/** Mean of `score(requested, capacity)` over the dimensions in a `requestedAfter` list. */
export function meanScore(
  pairs: readonly number[],
  score: (requested: number, capacity: number) => number,
): number {
  let sum = 0;
  for (let i = 0; i < pairs.length; i += 2) sum += score(pairs[i] ?? 0, pairs[i + 1] ?? 0);
  return pairs.length === 0 ? 0 : sum / (pairs.length / 2);
}
