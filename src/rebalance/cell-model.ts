import type { Resources } from "../domain/resources.ts";
import { InFlight } from "../placement/inflight.ts";
import { labelOf } from "../placement/labels.ts";
import { STAGES } from "../placement/pipeline.ts";
import { spreadValues } from "../placement/spread-share.ts";
import type { JobView, MachineView } from "../placement/types.ts";
import { disruptionAllows, mayMoveFor } from "./rules.ts";
import type { ClaimView, PlannedMove, RebalanceJob, RebalanceState, StrategyName } from "./types.ts";
import { vocabularyAllowsMove } from "./vocabulary-fit.ts";

const NO_PLAN = new InFlight();

/** What undoing a move needs to restore. */
interface MoveRecord {
  move: PlannedMove;
  wasRunning: boolean;
  addedSource: boolean;
  addedTarget: boolean;
  addedPair: boolean;
}

/**
 * The planner's working copy of a cell: machines, claims and the rebalancer's memory of recent
 * moves, changed by each planned move (and undone when a strategy gives up on a group of moves),
 * so that the strategies of one period see each other's moves. The state it was built from is
 * never mutated.
 */
export class CellModel {
  readonly machines = new Map<number, MachineView>();
  readonly #claimsOn = new Map<number, Map<number, ClaimView>>();
  readonly #perJob = new Map<number, Map<number, number>>();
  readonly #unavailable = new Map<number, number>();
  readonly #moved = new Set<number>();
  readonly #sources = new Set<number>();
  readonly #targets = new Set<number>();
  readonly #pairs = new Set<string>();
  readonly #records: MoveRecord[] = [];
  readonly #reserved = new Map<number, number>();
  /** Up machines by id: one array for the model's life (spread shares are cached per array). */
  readonly #up: readonly MachineView[];
  /** Jobs with anti-affinity: they may repel a task moved beside them. */
  readonly #repellers: readonly RebalanceJob[];

  constructor(readonly state: RebalanceState) {
    for (const m of state.machines) {
      this.machines.set(m.id, { ...m, used: { ...m.used } });
      this.#claimsOn.set(m.id, new Map());
    }
    for (const c of state.claims) {
      if (!state.jobs.has(c.jobId)) continue;
      this.#claimsOn.get(c.machineId)?.set(c.taskId, { ...c });
      this.#count(c.jobId, c.machineId, 1);
    }
    for (const job of state.jobs.values()) this.#unavailable.set(job.id, job.unavailable);
    this.#repellers = [...state.jobs.values()].filter((j) => (j.vocabulary?.antiAffinity.length ?? 0) > 0);
    this.#up = [...this.machines.values()].filter((m) => m.state === "up").sort((a, b) => a.id - b.id);
    for (const r of state.recentMoves) {
      this.#moved.add(r.taskId);
      this.#sources.add(r.from);
      this.#targets.add(r.to);
      this.#pairs.add(`${r.from}>${r.to}`);
    }
  }

  get moves(): PlannedMove[] {
    return this.#records.map((r) => r.move);
  }

  job(id: number): RebalanceJob | undefined {
    return this.state.jobs.get(id);
  }

  /** Up machines, by id (the model's own objects: usage follows the planned moves). */
  upMachines(): readonly MachineView[] {
    return this.#up;
  }

  claimsOn(machineId: number): ClaimView[] {
    return [...(this.#claimsOn.get(machineId)?.values() ?? [])];
  }

  tasksOf(jobId: number): ReadonlyMap<number, number> {
    return this.#perJob.get(jobId) ?? new Map();
  }

  /** The machine's fullest dimension: used / capacity over cpu, memory and (when it has any) gpu. */
  utilisation(machineId: number, extra?: { request: Resources; sign: 1 | -1 }): number {
    const m = this.machines.get(machineId);
    if (!m) return 0;
    const add = (d: "cpu" | "memory" | "gpu") => (extra ? extra.sign * extra.request[d] : 0);
    let u = 0;
    for (const d of ["cpu", "memory", "gpu"] as const) {
      if (m.capacity[d] > 0) u = Math.max(u, (m.used[d] + add(d)) / m.capacity[d]);
    }
    return u;
  }

  /**
   * Whether the claim may be moved now: not moved within the cooldown, not on a machine a recent
   * move filled, within its job's disruption budget, and (making room for a job of priority
   * `forPriority`) not of higher priority than that job.
   */
  movable(claim: ClaimView, forPriority?: number): boolean {
    const job = this.state.jobs.get(claim.jobId);
    if (!job || this.#moved.has(claim.taskId) || this.#targets.has(claim.machineId)) return false;
    if (!disruptionAllows(job.maxUnavailable, this.#unavailable.get(job.id) ?? 0, claim.running))
      return false;
    return forPriority === undefined || mayMoveFor(job.priority, forPriority);
  }

  /**
   * Whether the claim's task could go to `to`: the placement pipeline's filters (every one, as the
   * commit checks every rule), its job's spread share, the placement vocabulary (ports,
   * anti-affinity both ways, topology spread), and the rebalancer's memory (no machine a recent
   * move emptied is filled again; no move undoes another).
   */
  canHost(claim: ClaimView, to: number): boolean {
    const job = this.state.jobs.get(claim.jobId);
    const machine = this.machines.get(to);
    if (!job || !machine || to === claim.machineId) return false;
    if (this.#sources.has(to) || this.#pairs.has(`${to}>${claim.machineId}`)) return false;
    return (
      this.fits(job, machine) &&
      this.#withinSpreadShare(job, claim.machineId, machine) &&
      vocabularyAllowsMove(this, job, claim, machine, this.#repellers)
    );
  }

  /** Whether one more task of the job fits on the machine as the model stands (filters only). */
  fits(job: RebalanceJob, machine: MachineView): boolean {
    const view = this.jobView(job);
    return STAGES.every((stage) => stage.filter(machine, view, NO_PLAN).ok);
  }

  jobView(job: RebalanceJob): JobView {
    return {
      id: job.id,
      priority: job.priority,
      request: job.request,
      constraints: job.constraints,
      taskCount: job.taskCount,
      gangMin: job.gangMin,
      quota: null,
      pendingTaskIds: [],
      placedPerMachine: this.tasksOf(job.id),
    };
  }

  /** Tasks of the job per value of its spreadBy label, and its share ceil(tasks / values). */
  spreadCounts(job: RebalanceJob): { label: string; share: number; counts: Map<string, number> } | null {
    const label = job.constraints.spreadBy;
    if (label === null) return null;
    const up = this.upMachines();
    const share = Math.ceil(job.taskCount / Math.max(1, spreadValues(up, this.jobView(job), label)));
    const counts = new Map<string, number>();
    for (const [machineId, n] of this.tasksOf(job.id)) {
      const value = labelOf(this.machines.get(machineId)?.labels ?? {}, label);
      if (value !== undefined) counts.set(value, (counts.get(value) ?? 0) + n);
    }
    return { label, share, counts };
  }

  #withinSpreadShare(job: RebalanceJob, from: number, to: MachineView): boolean {
    const spread = this.spreadCounts(job);
    if (!spread) return true;
    const value = labelOf(to.labels, spread.label);
    if (value === undefined) return false;
    if (value === labelOf(this.machines.get(from)?.labels ?? {}, spread.label)) return true;
    return (spread.counts.get(value) ?? 0) < spread.share;
  }

  /** Plans a move: the model follows as if it were committed. */
  move(
    claim: ClaimView,
    to: number,
    strategy: StrategyName,
    why: string,
    forJob: number | null = null,
  ): PlannedMove {
    const job = this.state.jobs.get(claim.jobId);
    const target = this.machines.get(to);
    if (!job || !target) throw new Error(`cannot move task ${claim.taskId} to machine ${to}`);
    const from = claim.machineId;
    const move: PlannedMove = {
      taskId: claim.taskId,
      jobId: claim.jobId,
      from,
      to,
      toVersion: target.version,
      strategy,
      forJob,
      why,
    };
    const pair = `${from}>${to}`;
    const record: MoveRecord = {
      move,
      wasRunning: claim.running,
      addedSource: !this.#sources.has(from),
      addedTarget: !this.#targets.has(to),
      addedPair: !this.#pairs.has(pair),
    };
    this.#shift(claim, job.request, from, to);
    if (claim.running) this.#unavailable.set(job.id, (this.#unavailable.get(job.id) ?? 0) + 1);
    claim.running = false;
    this.#moved.add(claim.taskId);
    this.#sources.add(from);
    this.#targets.add(to);
    this.#pairs.add(pair);
    this.#records.push(record);
    return move;
  }

  /** Undoes the planned moves after the first `keep` (a strategy giving up on a group). */
  rollback(keep: number): void {
    while (this.#records.length > keep) {
      const r = this.#records.pop() as MoveRecord;
      const claim = this.#claimsOn.get(r.move.to)?.get(r.move.taskId) as ClaimView;
      const job = this.state.jobs.get(r.move.jobId) as RebalanceJob;
      this.#shift(claim, job.request, r.move.to, r.move.from);
      claim.running = r.wasRunning;
      if (r.wasRunning) this.#unavailable.set(job.id, (this.#unavailable.get(job.id) ?? 1) - 1);
      this.#moved.delete(r.move.taskId);
      if (r.addedSource) this.#sources.delete(r.move.from);
      if (r.addedTarget) this.#targets.delete(r.move.to);
      if (r.addedPair) this.#pairs.delete(`${r.move.from}>${r.move.to}`);
    }
  }

  /**
   * Holds room on a machine for a pending task (Defragment): later moves of the period see the
   * machine as fuller, so they do not fill the hole being made. Returns the undo.
   */
  reserve(job: RebalanceJob, machineId: number): () => void {
    this.#use(machineId, job.request, 1);
    this.#count(job.id, machineId, 1);
    this.#reserved.set(job.id, this.reservedFor(job.id) + 1);
    return () => {
      this.#use(machineId, job.request, -1);
      this.#count(job.id, machineId, -1);
      this.#reserved.set(job.id, this.reservedFor(job.id) - 1);
    };
  }

  /** Room reserved for the job's pending tasks this period. */
  reservedFor(jobId: number): number {
    return this.#reserved.get(jobId) ?? 0;
  }

  /** The job's tasks holding claims (reservations not counted). */
  placedCount(jobId: number): number {
    let n = 0;
    for (const c of this.tasksOf(jobId).values()) n += c;
    return n - this.reservedFor(jobId);
  }

  #shift(claim: ClaimView, request: Resources, from: number, to: number): void {
    this.#claimsOn.get(from)?.delete(claim.taskId);
    this.#claimsOn.get(to)?.set(claim.taskId, claim);
    claim.machineId = to;
    this.#use(from, request, -1);
    this.#use(to, request, 1);
    this.#count(claim.jobId, from, -1);
    this.#count(claim.jobId, to, 1);
  }

  // In place: the model's machines are its own copies (see the constructor).
  #use(machineId: number, r: Resources, sign: 1 | -1): void {
    const m = this.machines.get(machineId);
    if (!m) return;
    m.used.cpu += sign * r.cpu;
    m.used.memory += sign * r.memory;
    m.used.gpu += sign * r.gpu;
    m.used.disk += sign * r.disk;
    m.tasks += sign;
  }

  #count(jobId: number, machineId: number, delta: number): void {
    let perMachine = this.#perJob.get(jobId);
    if (!perMachine) {
      perMachine = new Map();
      this.#perJob.set(jobId, perMachine);
    }
    const n = (perMachine.get(machineId) ?? 0) + delta;
    if (n <= 0) perMachine.delete(machineId);
    else perMachine.set(machineId, n);
  }
}
