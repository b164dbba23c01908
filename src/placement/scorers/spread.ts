import { labelOf } from "../labels.ts";
import type { InFlightView, JobView, MachineView, Scorer, SpreadView } from "../types.ts";

/**
 * Kubernetes PodTopologySpread normalisation: 100 × (max + min − count) / max, so the value with the
 * fewest of the job's tasks scores 100 and a gap of one task costs little when counts are large.
 */
export function spreadScore(count: number, min: number, max: number): number {
  return max <= 0 ? 100 : (100 * (max + min - count)) / max;
}

/**
 * Prefers machines whose spread-label value (e.g. zone) holds the fewest of the job's tasks.
 * Machines without the label score 0; without a spread label every machine scores 0 (no opinion).
 */
export const spread: Scorer = (machine, _job, _inflight, context) => {
  const tally = context.spread;
  if (!tally) return 0;
  const value = labelOf(machine.labels, tally.label);
  return value === undefined ? 0 : spreadScore(tally.countOf(value), tally.min, tally.max);
};

/**
 * The job's tasks per value of the spread label: claims and plan so far, over the values of the
 * machines it could use or already uses. Built once per job in O(machines); `record` is O(1), so
 * a spread label with one value per machine (hostname) costs no more than one per zone.
 */
export class SpreadTally implements SpreadView {
  readonly label: string;
  readonly #counts = new Map<string, number>();
  // How many values hold each count: min and max follow increments in O(1).
  readonly #histogram = new Map<number, number>();
  #min = 0;
  #max = 0;

  constructor(
    label: string,
    machines: readonly MachineView[],
    candidates: readonly MachineView[],
    job: JobView,
    inflight: InFlightView,
  ) {
    this.label = label;
    for (const m of candidates) this.#seed(m, 0);
    for (const m of machines) {
      const n = (job.placedPerMachine.get(m.id) ?? 0) + inflight.count(job.id, m.id);
      if (n > 0) this.#seed(m, n);
    }
    for (const c of this.#counts.values()) this.#histogram.set(c, (this.#histogram.get(c) ?? 0) + 1);
    const all = [...this.#histogram.keys()];
    this.#min = all.length === 0 ? 0 : Math.min(...all);
    this.#max = all.length === 0 ? 0 : Math.max(...all);
  }

  get min(): number {
    return this.#min;
  }

  get max(): number {
    return this.#max;
  }

  countOf(value: string): number {
    return this.#counts.get(value) ?? 0;
  }

  /** One more of the job's tasks on the machine. */
  record(machine: MachineView): void {
    const value = labelOf(machine.labels, this.label);
    if (value === undefined) return;
    const before = this.#counts.get(value);
    if (before === undefined) {
      // A value first seen now (the pipeline never does this: it places on candidates only).
      this.#bump(0, 1);
      this.#min = 0;
    }
    const c = before ?? 0;
    this.#counts.set(value, c + 1);
    this.#bump(c, -1);
    this.#bump(c + 1, 1);
    if (c === this.#min && !this.#histogram.has(c)) this.#min = c + 1;
    if (c + 1 > this.#max) this.#max = c + 1;
  }

  #seed(machine: MachineView, tasks: number): void {
    const value = labelOf(machine.labels, this.label);
    if (value !== undefined) this.#counts.set(value, (this.#counts.get(value) ?? 0) + tasks);
  }

  #bump(count: number, delta: number): void {
    const n = (this.#histogram.get(count) ?? 0) + delta;
    if (n === 0) this.#histogram.delete(count);
    else this.#histogram.set(count, n);
  }
}
