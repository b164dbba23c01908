import { effectOf, isTolerated } from "../filters/tolerations.ts";
import type { Scorer } from "../types.ts";

/**
 * PreferNoSchedule taints lower a machine's score, never filter it (Kubernetes' TaintToleration
 * score): 100 with none the job does not tolerate, 20 less for each one, down to 0.
 */
export const taintToleration: Scorer = (machine, job) => {
  let intolerable = 0;
  for (const taint of machine.taints) {
    if (effectOf(taint) === "PreferNoSchedule" && !isTolerated(taint, job.constraints.tolerations))
      intolerable++;
  }
  return Math.max(0, 100 - 20 * intolerable);
};
