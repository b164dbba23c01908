import type { Filter, Taint, TaintEffect, Toleration } from "../types.ts";
import { PASS, reject } from "./result.ts";

/** A taint's effect: NoSchedule when it names none (so machines tainted before effects keep their meaning). */
export function effectOf(taint: Taint): TaintEffect {
  return taint.effect ?? "NoSchedule";
}

/**
 * Kubernetes' Toleration.ToleratesTaint: an effect, when named, must be the taint's; a key, when
 * named, must be the taint's; `Exists` then matches any value and `Equal` (the default) needs the
 * same value (an absent value is the empty one). An empty key with `Exists` tolerates every taint.
 * As omega.toleration_matches.
 */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== effectOf(taint)) return false;
  if (toleration.key !== undefined && toleration.key !== "" && toleration.key !== taint.key) return false;
  if (toleration.operator === "Exists") return true;
  return (toleration.value ?? "") === (taint.value ?? "");
}

export function isTolerated(taint: Taint, tolerations: readonly Toleration[]): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/** A new task lands only where every NoSchedule and NoExecute taint is tolerated (as omega.tolerates). */
export const tolerations: Filter = (machine, job) => {
  for (const taint of machine.taints) {
    if (effectOf(taint) === "PreferNoSchedule") continue;
    if (!isTolerated(taint, job.constraints.tolerations)) return reject("taint not tolerated");
  }
  return PASS;
};
