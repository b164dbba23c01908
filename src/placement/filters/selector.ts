import { labelOf } from "../labels.ts";
import type { Filter } from "../types.ts";
import { PASS, reject } from "./result.ts";

/** Whether `labels` holds every key of `selector` with the same value (an empty selector matches all). */
export function labelsInclude(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>>,
): boolean {
  for (const key in selector) {
    if (labelOf(labels, key) !== selector[key]) return false;
  }
  return true;
}

/** The machine's labels must include the job's selector (as SQL `labels @> selector`). */
export const selector: Filter = (machine, job) =>
  labelsInclude(machine.labels, job.constraints.selector) ? PASS : reject("selector mismatch");
