import { labelOf } from "../labels.ts";
import type { AffinityTerm, Filter } from "../types.ts";
import { PASS, reject } from "./result.ts";

/**
 * Kubernetes node-affinity semantics for one term: `In` needs the label with one of the values
 * (a missing label does not match), `NotIn` holds when the label is missing or has none of them.
 */
export function termMatches(labels: Readonly<Record<string, string>>, term: AffinityTerm): boolean {
  const value = labelOf(labels, term.key);
  switch (term.op) {
    case "In":
      return value !== undefined && (term.values ?? []).includes(value);
    case "NotIn":
      return value === undefined || !(term.values ?? []).includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    default:
      // An unknown operator never matches (as in omega.affinity_matches).
      return false;
  }
}

/** Every affinity term of the job must hold on the machine's labels (no terms: any machine). */
export const affinity: Filter = (machine, job) => {
  for (const term of job.constraints.affinity) {
    if (!termMatches(machine.labels, term)) return reject("affinity mismatch");
  }
  return PASS;
};
