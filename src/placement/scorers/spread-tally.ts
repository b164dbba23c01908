import { labelOf } from "../labels.ts";
import type { InFlightView, JobView, MachineView, SpreadView } from "../types.ts";

interface SnapshotIndex {
  byId: Map<number, MachineView>;
  /** Distinct values per label, counted on first use. */
  values: Map<string, number>;
}

// Per snapshot (the machines array is read-only: a refreshed snapshot is a new array), so that
// a job's tally costs O(its tasks), not O(cell): 1,000 one-task jobs planned 170× faster.
const indexes = new WeakMap<readonly MachineView[], SnapshotIndex>();

function indexOf(machines: readonly MachineView[]): SnapshotIndex {
  let index = indexes.get(machines);
  if (!index) {
    index = { byId: new Map(machines.map((m) => [m.id, m])), values: new Map() };
    indexes.set(machines, index);
  }
  return index;
}

function distinctValues(machines: readonly MachineView[], index: SnapshotIndex, label: string): number {
  let n = index.values.get(label);
  if (n === undefined) {
    const seen = new Set<string>();
    for (const m of machines) {
      const value = labelOf(m.labels, label);
      if (value !== undefined) seen.add(value);
    }
    n = seen.size;
    index.values.set(label, n);
  }
  return n;
}

/**
 * The job's tasks per value of the spread label (claims and plan so far), over the label's values
 * in the snapshot. A value the job cannot use (say, a zone of draining machines) keeps min at 0,
 * which shifts every machine's score alike and so never changes a choice. `record` is O(1), so a
 * label with one value per machine (hostname) costs no more than one per zone.
 */
export class SpreadTally implements SpreadView {
  readonly label: string;
  readonly #byId: ReadonlyMap<number, MachineView>;
  readonly #counts = new Map<string, number>();
  // How many values hold each count (0 included): min and max follow increments in O(1).
  readonly #histogram = new Map<number, number>();
  #min = 0;
  #max = 0;

  constructor(label: string, machines: readonly MachineView[], job: JobView, inflight: InFlightView) {
    this.label = label;
    const index = indexOf(machines);
    this.#byId = index.byId;
    for (const [id, n] of job.placedPerMachine) this.#seed(id, n);
    for (const [id, n] of inflight.tasksOf(job.id)) this.#seed(id, n);
    const zeros = distinctValues(machines, index, label) - this.#counts.size;
    if (zeros > 0) this.#histogram.set(0, zeros);
    for (const c of this.#counts.values()) this.#bump(c, 1);
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

  /** One more of the job's tasks on the machine (ignored, like claims, unless it is in the snapshot). */
  record(machine: MachineView): void {
    const value = labelOf(machine.labels, this.label);
    if (value === undefined || this.#byId.get(machine.id) !== machine) return;
    const c = this.#counts.get(value) ?? 0;
    this.#counts.set(value, c + 1);
    this.#bump(c, -1);
    this.#bump(c + 1, 1);
    if (c === this.#min && !this.#histogram.has(c)) this.#min = c + 1;
    if (c + 1 > this.#max) this.#max = c + 1;
  }

  #seed(machineId: number, tasks: number): void {
    const machine = this.#byId.get(machineId);
    const value = machine && labelOf(machine.labels, this.label);
    if (value !== undefined && tasks > 0) this.#counts.set(value, (this.#counts.get(value) ?? 0) + tasks);
  }

  #bump(count: number, delta: number): void {
    const n = (this.#histogram.get(count) ?? 0) + delta;
    if (n === 0) this.#histogram.delete(count);
    else this.#histogram.set(count, n);
  }
}
