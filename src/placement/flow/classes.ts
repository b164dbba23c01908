/**
 * Equivalence classes (Firmament's trick): the flow network has one node per class of
 * interchangeable tasks and one per class of interchangeable machines, not one per task and per
 * machine, so 10,000 tasks on 10,000 machines make a graph of a few hundred nodes.
 *
 * - task class: jobs whose tasks ask for the same thing under the same rules (request, constraints,
 *   locality, and whatever else a job view carries but its identity and progress); a job with a
 *   per-machine cap is a class of its own, as its count on each machine differs.
 * - machine class: machines that look the same to every task class of this plan: how many more
 *   tasks of each class they take (0 when a filter rules them out), whether they hold each class's
 *   data, and their utilisation bucket (what the load cost reads).
 */
import type { InFlight } from "../inflight.ts";
import type { Filter, JobView, MachineView } from "../types.ts";
import { isLocal, utilisation } from "./costs.ts";

/** Utilisation is costed in tenths: machines within a tenth of each other share a class. */
export const LOAD_BUCKETS = 10;

export interface TaskClass {
  /** The jobs in the class, highest priority first (the order the decode serves them). */
  jobs: JobView[];
  /** Tasks of the class still to place (bounds the slots worth counting). */
  tasks: number;
}

export interface MachineClass {
  machines: MachineView[];
  /** More tasks of each task class one machine of the class takes (by task class index). */
  slots: number[];
  /** Whether the machines hold each task class's data. */
  local: boolean[];
  /** Their utilisation, rounded down to a bucket: 0 to 1. */
  load: number;
  /** The most tasks of any one class a machine takes: the number of load levels. */
  levels: number;
  /** GPUs of the first machine (all of the class have GPUs, or none has). */
  gpus: number;
  /** Next machine to try (round-robin, so a class's tasks spread over its machines). */
  cursor: number;
}

/** The part of a job view that decides where its tasks may go and what they cost. */
function shapeKey(job: JobView): string {
  const {
    id: _id,
    pendingTaskIds: _pending,
    placedPerMachine: _placed,
    taskCount: _count,
    quota: _quota,
    priority: _priority,
    waitSeconds: _wait,
    gangMin: _gang,
    ...shape
  } = job;
  const own = job.constraints.maxPerMachine !== null ? `job ${job.id}:` : "";
  return own + JSON.stringify(shape);
}

export function taskClasses(jobs: readonly JobView[], pending: (job: JobView) => number): TaskClass[] {
  const byKey = new Map<string, TaskClass>();
  for (const job of jobs) {
    const key = shapeKey(job);
    const tc = byKey.get(key) ?? { jobs: [], tasks: 0 };
    tc.jobs.push(job);
    tc.tasks += pending(job);
    byKey.set(key, tc);
  }
  const classes = [...byKey.values()];
  for (const tc of classes) tc.jobs.sort((a, b) => b.priority - a.priority || a.id - b.id);
  return classes.sort((a, b) => (b.jobs[0]?.priority ?? 0) - (a.jobs[0]?.priority ?? 0));
}

/**
 * More tasks of `job` the machine takes now, the plan so far included: the least of what each
 * resource, the machine's task cap and the job's per-machine cap leave. Static filters are the
 * caller's; this is the arithmetic of the per-task ones.
 */
export function slotsFor(machine: MachineView, job: JobView, inflight: InFlight): number {
  const added = inflight.used(machine.id);
  const r = job.request;
  const c = machine.capacity;
  const u = machine.used;
  let n = machine.maxTasks - machine.tasks - inflight.tasksOn(machine.id);
  if (r.cpu > 0) n = Math.min(n, Math.floor((c.cpu - u.cpu - added.cpu) / r.cpu));
  if (r.memory > 0) n = Math.min(n, Math.floor((c.memory - u.memory - added.memory) / r.memory));
  if (r.gpu > 0) n = Math.min(n, Math.floor((c.gpu - u.gpu - added.gpu) / r.gpu));
  if (r.disk > 0) n = Math.min(n, Math.floor((c.disk - u.disk - added.disk) / r.disk));
  const max = job.constraints.maxPerMachine;
  if (max !== null) {
    n = Math.min(n, max - (job.placedPerMachine.get(machine.id) ?? 0) - inflight.count(job.id, machine.id));
  }
  return Math.max(0, n);
}

export function machineClasses(
  machines: readonly MachineView[],
  tasks: readonly TaskClass[],
  staticFilters: readonly Filter[],
  inflight: InFlight,
): MachineClass[] {
  const byKey = new Map<string, MachineClass>();
  const slots: number[] = new Array(tasks.length);
  const local: boolean[] = new Array(tasks.length);
  let total = 0;
  for (const tc of tasks) total += tc.tasks;
  // Static filters read the job's constraints only: run them once per distinct constraints.
  const ruleKeys = new Map<string, number>();
  const ruleOf = tasks.map((tc) => {
    const key = JSON.stringify((tc.jobs[0] as JobView).constraints);
    if (!ruleKeys.has(key)) ruleKeys.set(key, ruleKeys.size);
    return ruleKeys.get(key) as number;
  });
  const allowed: (boolean | undefined)[] = new Array(ruleKeys.size);
  for (const machine of machines) {
    allowed.fill(undefined);
    // Capacity counted in tasks of the class that fits most; a class's own arc needs no more
    // slots than it has tasks (so machines with room to spare share a class), the machine's no
    // more than the plan has tasks in all.
    let levels = 0;
    let key = "";
    for (let i = 0; i < tasks.length; i++) {
      const tc = tasks[i] as TaskClass;
      const rep = tc.jobs[0] as JobView;
      let s = 0;
      const rule = ruleOf[i] as number;
      let ok = allowed[rule];
      if (ok === undefined) {
        ok = staticFilters.every((f) => f(machine, rep, inflight).ok);
        allowed[rule] = ok;
      }
      if (ok) s = slotsFor(machine, rep, inflight);
      levels = Math.max(levels, s);
      slots[i] = Math.min(tc.tasks, s);
      local[i] = isLocal(machine, rep.locality);
      key += `${slots[i]}${local[i] ? "+" : "-"},`;
    }
    levels = Math.min(levels, total);
    if (levels === 0) continue;
    const load = Math.floor(utilisation(machine, inflight.used(machine.id)) * LOAD_BUCKETS) / LOAD_BUCKETS;
    key += `${levels}|${load}|${machine.capacity.gpu > 0 ? "gpu" : ""}`;
    let mc = byKey.get(key);
    if (!mc) {
      mc = {
        machines: [],
        slots: [...slots],
        local: [...local],
        load,
        levels,
        gpus: machine.capacity.gpu,
        cursor: 0,
      };
      byKey.set(key, mc);
    }
    mc.machines.push(machine);
  }
  return [...byKey.values()];
}
