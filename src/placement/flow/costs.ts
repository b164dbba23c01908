/**
 * The flow scheduler's cost model (Quincy's, adapted): every cost is a non-negative integer on an
 * arc of the flow network, and the solver minimises their sum.
 *
 * - locality: a task of a job with `locality: {label, values}` placed on a machine whose label is
 *   not one of `values` costs `locality × 100` (the data must travel).
 * - load: the k-th task the plan puts on a machine costs `load × 100 × utilisation after it`, a
 *   convex cost (one arc per level), so the flow spreads work over the emptiest machines.
 * - pack: a task costs `pack × 100 × (1 − utilisation)` of its machine, the same for every task
 *   (linear, so a flow can express it): the flow fills the fullest machines first, as `batch` does.
 * - gpu: a task that asks for no GPU costs `gpu × 100` on a machine that has GPUs, so CPU work
 *   leaves GPU machines to GPU work while it has anywhere else to go.
 * - unscheduled: leaving a task pending costs more than any placement (so the flow places every
 *   task it can), plus `priority × job priority` and `wait × seconds waited` (capped at an hour):
 *   when room is short, older and higher-priority work wins it — Quincy's cost that grows with
 *   wait time.
 * - preemption: a task that finds no free room may be routed to preemption for
 *   `preemption` instead; it is, when waiting would cost more (priority and wait above it).
 */
import type { JobView, Locality, MachineView } from "../types.ts";

export interface FlowCosts {
  /** Weight of a locality miss (×100 per task). (Default: 2.) */
  locality: number;
  /** Weight of load balance (×100 per task at full utilisation). (Default: 1.) */
  load: number;
  /** Weight of packing (×100 per task on an empty machine). (Default: 0.) */
  pack: number;
  /** Weight of keeping GPU machines for GPU work (×100 per CPU-only task there). (Default: 1.) */
  gpu: number;
  /** Cost per unit of job priority of leaving a task pending. (Default: 1.) */
  priority: number;
  /** Cost per second waited of leaving a task pending. (Default: 1.) */
  wait: number;
  /** Cost of routing a task to preemption rather than leaving it pending. (Default: 100.) */
  preemption: number;
}

export const DEFAULT_FLOW_COSTS: Readonly<FlowCosts> = Object.freeze({
  locality: 2,
  load: 1,
  pack: 0,
  gpu: 1,
  priority: 1,
  wait: 1,
  preemption: 100,
});

/** Waiting stops adding cost after an hour: costs stay small integers. */
const MAX_WAIT_SECONDS = 3_600;

/** True when the job has no locality preference or the machine holds its data. */
export function isLocal(machine: MachineView, locality: Locality | null | undefined): boolean {
  if (!locality) return true;
  const value = machine.labels[locality.label];
  return value !== undefined && locality.values.includes(value);
}

export function localityCost(costs: FlowCosts, local: boolean): number {
  return local ? 0 : Math.round(costs.locality * 100);
}

/** Dominant utilisation of a machine, the plan's additions included: 0 (idle) to 1 (full). */
export function utilisation(
  machine: MachineView,
  added: { cpu: number; memory: number; gpu: number; disk: number },
): number {
  let u = 0;
  const c = machine.capacity;
  if (c.cpu > 0) u = Math.max(u, (machine.used.cpu + added.cpu) / c.cpu);
  if (c.memory > 0) u = Math.max(u, (machine.used.memory + added.memory) / c.memory);
  if (c.gpu > 0) u = Math.max(u, (machine.used.gpu + added.gpu) / c.gpu);
  if (c.disk > 0) u = Math.max(u, (machine.used.disk + added.disk) / c.disk);
  return Math.min(1, u);
}

/**
 * Cost of the k-th task (k ≥ 1) put on a machine at utilisation `u0` that can take `slots` more:
 * linear in k from u0 to full, hence convex, so parallel arcs of increasing cost model it exactly.
 */
export function loadCost(costs: FlowCosts, u0: number, k: number, slots: number): number {
  const after = u0 + ((1 - u0) * k) / Math.max(1, slots);
  return Math.round(costs.load * 100 * Math.min(1, after));
}

/** What the machine itself costs one task: packing and GPU reservation (linear in tasks). */
export function machineCost(
  costs: FlowCosts,
  load: number,
  machineGpus: number,
  requestGpus: number,
): number {
  const pack = Math.round(costs.pack * 100 * (1 - load));
  return pack + (machineGpus > 0 && requestGpus === 0 ? Math.round(costs.gpu * 100) : 0);
}

/** More than any placement costs: the flow prefers placing a task anywhere to leaving it pending. */
export function unscheduledBase(costs: FlowCosts): number {
  return localityCost(costs, false) + machineCost(costs, 0, 1, 0) + Math.round(costs.load * 100) + 1;
}

export function unscheduledCost(costs: FlowCosts, job: Pick<JobView, "priority" | "waitSeconds">): number {
  const wait = Math.min(MAX_WAIT_SECONDS, Math.max(0, job.waitSeconds ?? 0));
  return unscheduledBase(costs) + Math.round(costs.priority * job.priority + costs.wait * wait);
}

export function preemptionCost(costs: FlowCosts): number {
  return unscheduledBase(costs) + Math.round(costs.preemption);
}
