/** Factories for the placement core's inputs, every field optional: a test names only what it is about. */
import type { Resources } from "../../src/domain/resources.ts";
import type { Constraints, JobView, MachineView } from "../../src/placement/types.ts";

export interface MachineSpec extends Partial<Omit<MachineView, "capacity" | "used">> {
  capacity?: Partial<Resources>;
  used?: Partial<Resources>;
}

let machineSeq = 0;

/** A 4-core, 8 GiB, empty `up` machine with a fresh id. */
export function machine(spec: MachineSpec = {}): MachineView {
  const id = spec.id ?? ++machineSeq;
  return {
    name: `m${id}`,
    state: "up",
    tasks: 0,
    maxTasks: 110,
    labels: {},
    taints: [],
    version: 1,
    ...spec,
    id,
    capacity: { cpu: 4000, memory: 8192, gpu: 0, disk: 0, ...spec.capacity },
    used: { cpu: 0, memory: 0, gpu: 0, disk: 0, ...spec.used },
  };
}

/** A machine with nothing left in any dimension. */
export function fullMachine(spec: MachineSpec = {}): MachineView {
  const m = machine(spec);
  return { ...m, used: { ...m.capacity } };
}

export function drainingMachine(spec: MachineSpec = {}): MachineView {
  return machine({ ...spec, state: "draining" });
}

export function downMachine(spec: MachineSpec = {}): MachineView {
  return machine({ ...spec, state: "down" });
}

export interface JobSpec extends Partial<Omit<JobView, "request" | "constraints" | "placedPerMachine">> {
  request?: Partial<Resources>;
  constraints?: Partial<Constraints>;
  /** Pending task count (ids 1..n) when pendingTaskIds is not given. */
  tasks?: number;
  /** Tasks of the job already holding claims, by machine id. */
  placedPerMachine?: Record<number, number>;
}

let jobSeq = 0;

/** A job of one 1-core, 1 GiB task with no constraints. */
export function job(spec: JobSpec = {}): JobView {
  const { tasks = 1, request, constraints, placedPerMachine, ...rest } = spec;
  const placed = new Map(Object.entries(placedPerMachine ?? {}).map(([k, v]) => [Number(k), v] as const));
  return {
    id: ++jobSeq,
    priority: 150,
    gangMin: null,
    quota: null,
    pendingTaskIds: Array.from({ length: tasks }, (_, i) => i + 1),
    taskCount: rest.pendingTaskIds?.length ?? tasks,
    ...rest,
    request: { cpu: 1000, memory: 1024, gpu: 0, disk: 0, ...request },
    constraints: {
      selector: {},
      affinity: [],
      tolerations: [],
      maxPerMachine: null,
      spreadBy: null,
      ...constraints,
    },
    placedPerMachine: placed,
  };
}

/** Machines named by zone label, `perZone` in each of `zones`. */
export function zonedMachines(
  zones: readonly string[],
  perZone: number,
  spec: MachineSpec = {},
): MachineView[] {
  return zones.flatMap((zone) =>
    Array.from({ length: perZone }, () => machine({ ...spec, labels: { zone } })),
  );
}

/** The value, failing the test when it is missing (where a non-null assertion would hide the bug). */
export function must<T>(value: T | null | undefined, what = "value"): T {
  if (value === null || value === undefined) throw new Error(`expected a ${what}`);
  return value;
}

/** Another job's request, for overlay charges that only use up room. */
export function other(request: Partial<Resources>): JobView {
  return job({ request: { cpu: 0, memory: 0, ...request } });
}
