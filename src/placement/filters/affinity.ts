import { labelOf } from "../labels.ts";
import type { AffinityOperator, AffinityTerm, Filter } from "../types.ts";
import { PASS, reject } from "./result.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A label value as Kubernetes' Gt/Lt read it (strconv.ParseInt base 10, 64 bits), or undefined. */
export function parseInt64(value: string | undefined): bigint | undefined {
  if (value === undefined || !/^[+-]?\d{1,19}$/.test(value)) return undefined;
  const n = BigInt(value);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** The term's operator: `operator`, or its alias `op`. */
export function operatorOf(term: AffinityTerm): AffinityOperator | undefined {
  return term.operator ?? term.op;
}

/**
 * Kubernetes node-affinity semantics for one term: `In` needs the label with one of the values
 * (a missing label does not match), `NotIn` holds when the label is missing or has none of them;
 * `Gt`/`Lt` compare the label's integer value with the single value given (a missing or
 * non-integer label does not match). As omega.affinity_matches.
 */
export function termMatches(labels: Readonly<Record<string, string>>, term: AffinityTerm): boolean {
  const value = labelOf(labels, term.key);
  switch (operatorOf(term)) {
    case "In":
      return value !== undefined && (term.values ?? []).includes(value);
    case "NotIn":
      return value === undefined || !(term.values ?? []).includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      const label = parseInt64(value);
      const bound = parseInt64(term.values?.[0]);
      if (label === undefined || bound === undefined) return false;
      return operatorOf(term) === "Gt" ? label > bound : label < bound;
    }
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
