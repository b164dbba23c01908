import type { Resources } from "../domain/resources.ts";
import { ZERO } from "../domain/resources.ts";
import type { InFlightJobView, InFlightView } from "./types.ts";

const NONE: ReadonlyMap<number, number> = new Map();

/**
 * The overlay of the plan being built on the snapshot: what it adds to each machine and how many
 * tasks of each job it puts where. Planning mutates only this, never the snapshot, so one plan
 * never double-books a machine and several jobs planned in a row see each other's placements.
 */
export class InFlight implements InFlightView {
  readonly #used = new Map<number, Resources>();
  readonly #perJob = new Map<number, Map<number, number>>();
  readonly #quota = new Map<string, Resources>();
  readonly #perMachine = new Map<number, number>();
  // The jobs placed, for the vocabulary of the jobs planned after them (ports, labels, terms).
  readonly #jobs = new Map<number, InFlightJob>();
  #placements = 0;

  used(machineId: number): Readonly<Resources> {
    return this.#used.get(machineId) ?? ZERO;
  }

  count(jobId: number, machineId: number): number {
    return this.#perJob.get(jobId)?.get(machineId) ?? 0;
  }

  tasksOn(machineId: number): number {
    return this.#perMachine.get(machineId) ?? 0;
  }

  tasksOf(jobId: number): ReadonlyMap<number, number> {
    return this.#perJob.get(jobId) ?? NONE;
  }

  *placedJobs(): Iterable<{ job: InFlightJob; machines: ReadonlyMap<number, number> }> {
    for (const [id, machines] of this.#perJob) {
      const job = this.#jobs.get(id);
      if (job && machines.size > 0) yield { job, machines };
    }
  }

  /** How many placements the overlay holds. */
  get size(): number {
    return this.#placements;
  }

  quotaUsed(key: string): Readonly<Resources> {
    return this.#quota.get(key) ?? ZERO;
  }

  /** One more task of the job on the machine, charged to the job's quota if it has one. */
  add(job: InFlightJob, machineId: number): void {
    addInto(this.#used, machineId, job.request, 1);
    if (job.quota) addInto(this.#quota, job.quota.key, job.request, 1);
    if (!this.#jobs.has(job.id)) this.#jobs.set(job.id, job);
    let machines = this.#perJob.get(job.id);
    if (!machines) {
      machines = new Map();
      this.#perJob.set(job.id, machines);
    }
    machines.set(machineId, (machines.get(machineId) ?? 0) + 1);
    this.#perMachine.set(machineId, this.tasksOn(machineId) + 1);
    this.#placements++;
  }

  /** Undoes one `add` (a gang that could not be placed whole takes its placements back). */
  remove(job: InFlightJob, machineId: number): void {
    const machines = this.#perJob.get(job.id);
    const n = machines?.get(machineId) ?? 0;
    if (!machines || n === 0) throw new Error(`job ${job.id} has no task in flight on machine ${machineId}`);
    if (n === 1) machines.delete(machineId);
    else machines.set(machineId, n - 1);
    addInto(this.#used, machineId, job.request, -1);
    if (job.quota) addInto(this.#quota, job.quota.key, job.request, -1);
    this.#perMachine.set(machineId, this.tasksOn(machineId) - 1);
    this.#placements--;
  }
}

/** What the overlay needs to know of a job. */
export type InFlightJob = InFlightJobView;

function addInto<K>(totals: Map<K, Resources>, key: K, request: Resources, sign: 1 | -1): void {
  const total = totals.get(key);
  if (!total) {
    totals.set(key, {
      cpu: sign * request.cpu,
      memory: sign * request.memory,
      gpu: sign * request.gpu,
      disk: sign * request.disk,
    });
    return;
  }
  total.cpu += sign * request.cpu;
  total.memory += sign * request.memory;
  total.gpu += sign * request.gpu;
  total.disk += sign * request.disk;
}
