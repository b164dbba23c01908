import type { Resources } from "../domain/resources.ts";
import { ZERO } from "../domain/resources.ts";
import type { InFlightView } from "./types.ts";

const NONE: ReadonlyMap<number, number> = new Map();

/**
 * The overlay of the plan being built on the snapshot: what it adds to each machine and how many
 * tasks of each job it puts where. Planning mutates only this, never the snapshot, so one plan
 * never double-books a machine and several jobs planned in a row see each other's placements.
 */
export class InFlight implements InFlightView {
  readonly #used = new Map<number, Resources>();
  readonly #perJob = new Map<number, Map<number, number>>();
  #placements = 0;

  used(machineId: number): Readonly<Resources> {
    return this.#used.get(machineId) ?? ZERO;
  }

  count(jobId: number, machineId: number): number {
    return this.#perJob.get(jobId)?.get(machineId) ?? 0;
  }

  tasksOf(jobId: number): ReadonlyMap<number, number> {
    return this.#perJob.get(jobId) ?? NONE;
  }

  /** How many placements the overlay holds. */
  get size(): number {
    return this.#placements;
  }

  /** One more task of the job on the machine, asking for `request`. */
  add(jobId: number, machineId: number, request: Resources): void {
    const used = this.#used.get(machineId);
    if (used) {
      used.cpu += request.cpu;
      used.memory += request.memory;
      used.gpu += request.gpu;
      used.disk += request.disk;
    } else {
      this.#used.set(machineId, { ...request });
    }
    let machines = this.#perJob.get(jobId);
    if (!machines) {
      machines = new Map();
      this.#perJob.set(jobId, machines);
    }
    machines.set(machineId, (machines.get(machineId) ?? 0) + 1);
    this.#placements++;
  }

  /** Undoes one `add` (a gang that could not be placed whole takes its placements back). */
  remove(jobId: number, machineId: number, request: Resources): void {
    const machines = this.#perJob.get(jobId);
    const n = machines?.get(machineId) ?? 0;
    const used = this.#used.get(machineId);
    if (!machines || n === 0 || !used)
      throw new Error(`job ${jobId} has no task in flight on machine ${machineId}`);
    if (n === 1) machines.delete(machineId);
    else machines.set(machineId, n - 1);
    used.cpu -= request.cpu;
    used.memory -= request.memory;
    used.gpu -= request.gpu;
    used.disk -= request.disk;
    this.#placements--;
  }
}
