import type { MachineView } from "./types.ts";

/**
 * One job's walk over the cell's machines in a seeded random order, with a cursor that keeps
 * rotating from task to task (Borg's relaxed randomization; Nomad's StaticIterator).
 *
 * Lazy, so a small job costs O(sample), not O(cell): the order is drawn one position at a time as
 * the cursor first reaches it (an incremental Fisher–Yates, so still a uniform shuffle), and the
 * job's static filters run on a machine only then, once. A machine that fails either the static
 * or a per-task filter is dropped for the rest of the job: within one job the plan only adds
 * usage and every task asks for the same, so it would fail again. Each machine is thus rejected
 * at most once, and a job costs O(machines + tasks × sample) filter calls at worst. Filters the
 * job's own placements can lift (a topology spread, a job affinity) go in `eligible`: a machine
 * they refuse is passed over for this task only, and met again by the next.
 */
export class CandidateRing {
  readonly #machines: readonly MachineView[];
  readonly #random: () => number;
  readonly #isCandidate: (machine: MachineView) => boolean;
  // Drawn positions: machine indices in their final order, and 1 where the machine was dropped.
  #drawn: number[] = [];
  #dropped: number[] = [];
  #dropCount = 0;
  // Undrawn position p holds machine p + #shift, unless a draw displaced another machine there
  // (keyed by p + #shift, which compaction keeps stable). No O(cell) set-up per job.
  readonly #displaced = new Map<number, number>();
  #shift = 0;
  #length: number;
  #cursor = 0;

  constructor(
    machines: readonly MachineView[],
    random: () => number,
    isCandidate: (machine: MachineView) => boolean,
  ) {
    this.#machines = machines;
    this.#random = random;
    this.#isCandidate = isCandidate;
    this.#length = machines.length;
  }

  /**
   * Fills `out` with up to `size` machines passing the static, the `feasible` and the `eligible`
   * filters, each examined at most once, in ring order from the cursor; the cursor moves past the
   * last machine examined. Returns `out`.
   */
  sample(
    size: number,
    feasible: (machine: MachineView) => boolean,
    out: MachineView[],
    eligible?: (machine: MachineView) => boolean,
  ): MachineView[] {
    out.length = 0;
    const n = this.#length;
    let k = 0;
    for (; k < n && out.length < size; k++) {
      let i = this.#cursor + k;
      if (i >= n) i -= n;
      // The cursor never passes the drawn prefix, so a position not drawn yet is the next one.
      const fresh = i === this.#drawn.length;
      if (fresh) this.#draw();
      if (this.#dropped[i] === 1) continue;
      const machine = this.#machines[this.#drawn[i] as number] as MachineView;
      if ((!fresh || this.#isCandidate(machine)) && feasible(machine)) {
        if (!eligible || eligible(machine)) out.push(machine);
      } else {
        this.#dropped[i] = 1;
        this.#dropCount++;
      }
    }
    if (n > 0) this.#cursor = (this.#cursor + k) % n;
    // Skipping the dropped costs a scan; compacting once half are dropped keeps that amortised O(1).
    if (this.#dropCount * 2 > n) this.#compact();
    return out;
  }

  #undrawnAt(position: number): number {
    const key = position + this.#shift;
    return this.#displaced.get(key) ?? key;
  }

  /** Draws the next position: swaps a uniformly chosen undrawn machine into it. */
  #draw(): void {
    const i = this.#drawn.length;
    const j = i + Math.floor(this.#random() * (this.#length - i));
    const atI = this.#undrawnAt(i);
    this.#drawn.push(this.#undrawnAt(j));
    this.#dropped.push(0);
    if (j !== i) this.#displaced.set(j + this.#shift, atI);
    this.#displaced.delete(i + this.#shift);
  }

  /** Drops the dropped positions, keeping the order of the rest (only drawn ones can be dropped). */
  #compact(): void {
    const drawn: number[] = [];
    let cursor = 0;
    this.#drawn.forEach((machine, i) => {
      if (this.#dropped[i] === 1) return;
      if (i < this.#cursor) cursor++;
      drawn.push(machine);
    });
    const removed = this.#drawn.length - drawn.length;
    this.#drawn = drawn;
    this.#dropped = drawn.map(() => 0);
    this.#dropCount = 0;
    this.#shift += removed;
    this.#length -= removed;
    this.#cursor = this.#length === 0 ? 0 : cursor % this.#length;
  }
}
