import type { MachineView } from "./types.ts";

/**
 * One job's candidate machines in (shuffled) order, and a cursor that keeps rotating over them
 * from task to task (Borg's relaxed randomization; Nomad's StaticIterator). A machine that fails a
 * per-task filter is dropped for the rest of the job: within one job the plan only adds usage and
 * every task asks for the same, so it would fail again. Each machine is therefore rejected at most
 * once, and a job costs O(candidates + tasks × sample) filter calls, not O(candidates × tasks).
 */
export class CandidateRing {
  #machines: MachineView[];
  #dead: Uint8Array;
  #deadCount = 0;
  #cursor = 0;

  constructor(machines: MachineView[]) {
    this.#machines = machines;
    this.#dead = new Uint8Array(machines.length);
  }

  /** Candidates not yet dropped. */
  get live(): number {
    return this.#machines.length - this.#deadCount;
  }

  /**
   * Fills `out` with up to `size` machines passing `feasible`, each examined at most once, in ring
   * order from the cursor; the cursor moves past the last machine examined. Returns `out`.
   */
  sample(size: number, feasible: (machine: MachineView) => boolean, out: MachineView[]): MachineView[] {
    out.length = 0;
    const n = this.#machines.length;
    let k = 0;
    for (; k < n && out.length < size; k++) {
      let i = this.#cursor + k;
      if (i >= n) i -= n;
      if (this.#dead[i] === 1) continue;
      const machine = this.#machines[i] as MachineView;
      if (feasible(machine)) {
        out.push(machine);
      } else {
        this.#dead[i] = 1;
        this.#deadCount++;
      }
    }
    if (n > 0) this.#cursor = (this.#cursor + k) % n;
    // Skipping the dropped costs a scan; compacting once half are dropped keeps that amortised O(1).
    if (this.#deadCount * 2 > n) this.#compact();
    return out;
  }

  #compact(): void {
    const kept: MachineView[] = [];
    let cursor = 0;
    this.#machines.forEach((machine, i) => {
      if (this.#dead[i] === 1) return;
      if (i < this.#cursor) cursor++;
      kept.push(machine);
    });
    this.#machines = kept;
    this.#dead = new Uint8Array(kept.length);
    this.#deadCount = 0;
    this.#cursor = kept.length === 0 ? 0 : cursor % kept.length;
  }
}
