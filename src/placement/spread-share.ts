import { affinity } from "./filters/affinity.ts";
import { PASS, reject } from "./filters/result.ts";
import { selector } from "./filters/selector.ts";
import { labelOf } from "./labels.ts";
import type { SpreadTally } from "./scorers/spread-tally.ts";
import type { Filter, InFlightView, JobView, MachineView } from "./types.ts";

// Per snapshot (a refreshed snapshot is a new array): values counted once per label and rules.
const valueCounts = new WeakMap<readonly MachineView[], Map<string, number>>();

/**
 * How many values of the job's spread label its tasks may use: those of the up machines its
 * selector and affinity allow. The commit procedure counts them the same way.
 */
export function spreadValues(machines: readonly MachineView[], job: JobView, label: string): number {
  let counts = valueCounts.get(machines);
  if (!counts) {
    counts = new Map();
    valueCounts.set(machines, counts);
  }
  const key = JSON.stringify([label, job.constraints.selector, job.constraints.affinity]);
  let n = counts.get(key);
  if (n === undefined) {
    const seen = new Set<string>();
    for (const m of machines) {
      const value = labelOf(m.labels, label);
      if (value === undefined || m.state !== "up") continue;
      if (selector(m, job, NO_PLAN).ok && affinity(m, job, NO_PLAN).ok) seen.add(value);
    }
    n = seen.size;
    counts.set(key, n);
  }
  return n;
}

/**
 * A job that names `spreadBy` holds at most its share, ceil(tasks / values), on each value of the
 * label (e.g. 22 of 64 tasks per zone over 3 zones); machines without the label cannot take it.
 * The tally follows the plan as it grows, so the filter sees the job's earlier placements.
 */
export function spreadShareFilter(
  machines: readonly MachineView[],
  job: JobView,
  tally: SpreadTally,
): Filter {
  const share = Math.ceil(job.taskCount / Math.max(1, spreadValues(machines, job, tally.label)));
  return (machine) => {
    const value = labelOf(machine.labels, tally.label);
    if (value === undefined) return reject("spread label missing");
    return tally.countOf(value) < share ? PASS : reject("spread share reached");
  };
}

// Selector and affinity read neither the plan nor usage.
const NO_PLAN = {} as InFlightView;
