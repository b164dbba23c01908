import type { Dimension, Resources } from "../../domain/resources.ts";
import type { InFlightView, JobView, MachineView } from "../types.ts";

/** Dimensions the resource scorers weigh: cpu and memory always, gpu and disk where the machine has any. */
export function isScored(dimension: Dimension, capacity: Resources): boolean {
  return dimension === "cpu" || dimension === "memory" || capacity[dimension] > 0;
}

/**
 * Mean over the scored dimensions of `score(requested, capacity)`, where `requested` is what the
 * machine would have in use once the task is placed (snapshot + plan + request). Unrolled and
 * allocation-free: a service task scores dozens of machines, and a keyed loop cost 3× as much.
 */
export function meanAfterPlacing(
  machine: MachineView,
  job: JobView,
  inflight: InFlightView,
  score: (requested: number, capacity: number) => number,
): number {
  const { capacity: cap, used } = machine;
  const plan = inflight.used(machine.id);
  const req = job.request;
  let sum =
    score(used.cpu + plan.cpu + req.cpu, cap.cpu) + score(used.memory + plan.memory + req.memory, cap.memory);
  let n = 2;
  if (cap.gpu > 0) {
    sum += score(used.gpu + plan.gpu + req.gpu, cap.gpu);
    n++;
  }
  if (cap.disk > 0) {
    sum += score(used.disk + plan.disk + req.disk, cap.disk);
    n++;
  }
  return sum / n;
}
