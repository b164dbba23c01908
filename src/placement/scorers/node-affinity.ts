import { termMatches } from "../filters/affinity.ts";
import type { Scorer } from "../types.ts";

/**
 * preferredAffinity (Kubernetes' preferredDuringSchedulingIgnoredDuringExecution): the weights of
 * the terms the machine matches, as a share of all the job's weights, 0-100. No terms: 0 for all.
 */
export const nodeAffinity: Scorer = (machine, job) => {
  const terms = job.constraints.preferredAffinity;
  if (!terms || terms.length === 0) return 0;
  let total = 0;
  let matched = 0;
  for (const term of terms) {
    total += term.weight;
    if (termMatches(machine.labels, term)) matched += term.weight;
  }
  return total === 0 ? 0 : (matched * 100) / total;
};
