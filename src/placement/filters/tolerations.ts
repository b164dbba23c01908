import type { Filter, Taint, Toleration } from "../types.ts";
import { PASS, reject } from "./result.ts";

/**
 * Whether some toleration has the taint's key and either names no value (tolerates them all) or
 * the taint's value (so a valued toleration does not tolerate a taint without a value).
 */
export function isTolerated(taint: Taint, tolerations: readonly Toleration[]): boolean {
  for (const t of tolerations) {
    if (t.key !== taint.key) continue;
    if (t.value === undefined || t.value === (taint.value ?? null)) return true;
  }
  return false;
}

/** Every taint of the machine must be tolerated by the job (as omega.tolerates). */
export const tolerations: Filter = (machine, job) => {
  for (const taint of machine.taints) {
    if (!isTolerated(taint, job.constraints.tolerations)) return reject("taint not tolerated");
  }
  return PASS;
};
