/**
 * Terminology
 * - snapshot: one scheduler's in-memory copy of a cell's machines and their usage. It may be stale;
 *   the commit procedure in the database is the authority.
 * - candidate: a machine a task could go to. Filters rule candidates out; scorers rank the rest.
 * - in-flight usage: what the plan being built has already put on each machine, overlaid on the
 *   snapshot so one plan never double-books a machine.
 * - placement: (task, machine, the machine version the scheduler saw).
 * - explanation: why tasks that found no machine did not: counts of filter rejections.
 *
 * Nothing under src/placement does I/O: it runs unchanged in unit tests and benchmarks.
 */
import type { Dimension, Resources } from "../domain/resources.ts";

export type MachineState = "up" | "draining" | "down";

export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";

export interface Taint {
  key: string;
  value?: string;
  /** Absent: NoSchedule. */
  effect?: TaintEffect;
}

/** Kubernetes' toleration (ToleratesTaint): see filters/tolerations.ts. */
export interface Toleration {
  /** Absent or empty (with `Exists`): every key. */
  key?: string;
  /** Absent: Equal. */
  operator?: "Equal" | "Exists";
  value?: string;
  /** Absent: every effect. */
  effect?: TaintEffect;
  /** NoExecute only: how long the task may stay once the taint is there (absent: forever). */
  tolerationSeconds?: number;
}

export type AffinityOperator = "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt";

export interface AffinityTerm {
  key: string;
  /** The Kubernetes name; `op` is its alias (one of the two is set). */
  operator?: AffinityOperator;
  op?: AffinityOperator;
  values?: string[];
}

/** A preferredAffinity term: machines it matches score `weight` (1-100) more. */
export interface PreferredAffinityTerm extends AffinityTerm {
  weight: number;
}

export interface MachineView {
  id: number;
  name: string;
  state: MachineState;
  capacity: Resources;
  used: Resources;
  /** Claims on the machine, all jobs. */
  tasks: number;
  /** At most this many claims on the machine, whatever their requests (Kubernetes' max pods). */
  maxTasks: number;
  labels: Readonly<Record<string, string>>;
  taints: readonly Taint[];
  version: number;
}

export interface Constraints {
  selector: Readonly<Record<string, string>>;
  affinity: readonly AffinityTerm[];
  tolerations: readonly Toleration[];
  maxPerMachine: number | null;
  /** A label (failure domain, e.g. "zone") across whose values the tasks should spread. */
  spreadBy: string | null;
  /** Scores only (absent: none). */
  preferredAffinity?: readonly PreferredAffinityTerm[];
}

/** What is left of the quota a job's tasks count against (its tenant's, in its cell and band). */
export interface QuotaView {
  /** Identifies the quota: jobs of one tenant and band share it within a plan. */
  key: string;
  band: "batch" | "production";
  /** The limit minus what the tenant's claims already use, as of the job's lease. */
  free: Resources;
}

export interface JobView {
  id: number;
  priority: number;
  request: Resources;
  constraints: Constraints;
  /** All the job's tasks, placed or not: a spread share is ceil(taskCount / values). */
  taskCount: number;
  gangMin: number | null;
  /** Null when no quota limits the job (none set, or best-effort work). */
  quota: QuotaView | null;
  /** Its tenant's id, where known: a job waiting on its cohort reclaims for it (reclaim.ts). */
  tenantId?: number;
  /** Ids of the tasks still to place, in task order. */
  pendingTaskIds: readonly number[];
  /** How many of this job's tasks already hold a claim on each machine (by machine id). */
  placedPerMachine: ReadonlyMap<number, number>;
  /** Optional: machines whose `label` is one of `values` hold the job's data (the flow scheduler's cost). */
  locality?: Locality | null;
  /** Optional: seconds the job has waited to be placed (the flow scheduler's unscheduled cost grows with it). */
  waitSeconds?: number;
  /** Topology spread, inter-job affinity and host ports; absent for a job that uses none. */
  vocabulary?: JobVocabulary;
  /** The job's labels (what other jobs' jobAffinity / jobAntiAffinity select); absent: none. */
  labels?: Readonly<Record<string, string>>;
  /** A profile's extender's scores (0-100, by machine id) and their weight; absent without one. */
  extenderScores?: { weight: number; scores: ReadonlyMap<number, number> };
}

/** A data-locality preference (job spec `locality`): never filters, only costs. */
export interface Locality {
  label: string;
  values: readonly string[];
}

export interface TopologySpreadTerm {
  /** A machine label, or `machine` (each machine its own domain). */
  topologyKey: string;
  maxSkew: number;
  whenUnsatisfiable?: "DoNotSchedule" | "ScheduleAnyway";
}

/** Domains of one topology key, resolved against the cell when the job was leased. */
export interface DomainTerm {
  topologyKey: string;
  /** Label values, or machine ids as text for the key `machine`. */
  domains: ReadonlySet<string>;
  /** The job's own labels match the term (its tasks repel, or attract, each other). */
  self: boolean;
}

/** A jobAffinity / jobAntiAffinity term as the job spec states it. */
export interface SelectorTerm {
  selector: Readonly<Record<string, string>>;
  /** A machine label, or `machine`. */
  topologyKey: string;
}

export interface JobVocabulary {
  ports: readonly number[];
  /** Machines where another claim holds one of the job's ports. */
  portMachines: ReadonlySet<number>;
  topologySpread: readonly TopologySpreadTerm[];
  /** Domains its tasks may not land in: its anti-affinity, and the anti-affinity of jobs against it. */
  forbidden: readonly DomainTerm[];
  /** Per jobAffinity term, the domains holding a task of a matching job. */
  required: readonly DomainTerm[];
  /**
   * The job's own terms as written (absent: none): what is resolved above against the cell's
   * claims is resolved again against the jobs placed earlier in the same plan (in-round.ts).
   */
  antiAffinity?: readonly SelectorTerm[];
  affinity?: readonly SelectorTerm[];
}

export interface Placement {
  taskId: number;
  machineId: number;
  machineVersion: number;
  /** Tasks whose claims on the machine are evicted to make room (preemption). */
  victims?: readonly number[];
}

/** Rejection is data: each filter says why a machine cannot take the task. */
export type RejectionReason =
  | "machine not up"
  | "insufficient cpu"
  | "insufficient memory"
  | "insufficient gpu"
  | "insufficient disk"
  | "selector mismatch"
  | "affinity mismatch"
  | "taint not tolerated"
  | "max per machine reached"
  | "machine task cap reached"
  | "spread label missing"
  | "spread share reached"
  | "host port in use"
  | "job anti-affinity"
  | "job affinity"
  | "topology spread"
  | "extender unavailable";

export type FilterResult = { ok: true } | { ok: false; reason: RejectionReason };

export type FilterName =
  | "machineState"
  | "capacity"
  | "selector"
  | "affinity"
  | "tolerations"
  | "maxPerMachine"
  | "machineTasks";
export type ScorerName =
  | "leastAllocated"
  | "mostAllocated"
  | "balancedAllocation"
  | "spread"
  | "taintToleration"
  | "nodeAffinity";

/** What a scheduler profile tells the pipeline (the rest of a profile drives the retry loop). */
export interface PipelineConfig {
  filters: readonly FilterName[];
  scorers: readonly { name: ScorerName; weight: number }[];
  /** How many feasible machines to score per task before choosing (Borg's relaxed randomization). */
  sampleSize: number;
  /**
   * Optional: score at least this fraction of the cell's machines per task, so the sample grows
   * with the cell (as Kubernetes' percentageOfNodesToScore). The sample is the larger of the two.
   */
  sampleFraction?: number;
  /** Optional: the label to spread across when the job names none (e.g. "zone"). */
  spreadBy?: string | null;
}

/** Read-only view of the plan being built: what it already put on each machine. */
export interface InFlightView {
  /** Resources the plan adds to the machine. */
  used(machineId: number): Readonly<Resources>;
  /** Tasks of the job the plan puts on the machine. */
  count(jobId: number, machineId: number): number;
  /** Tasks of every job the plan puts on the machine. */
  tasksOn(machineId: number): number;
  /** Tasks of the job the plan puts on each machine (by machine id). */
  tasksOf(jobId: number): ReadonlyMap<number, number>;
  /** Resources the plan charges to a quota (by QuotaView.key). */
  quotaUsed(key: string): Readonly<Resources>;
  /** Every job with tasks in the plan, and how many on each machine (by machine id). */
  placedJobs(): Iterable<{ job: InFlightJobView; machines: ReadonlyMap<number, number> }>;
}

/** What the overlay keeps of a job it placed: enough to judge the jobs planned after it. */
export type InFlightJobView = Pick<JobView, "id" | "request" | "quota" | "labels" | "vocabulary">;

/** A filter: can this machine take one more task of the job, given the plan so far? */
export type Filter = (machine: MachineView, job: JobView, inflight: InFlightView) => FilterResult;

/** Where the job's tasks are, per value of its spread label (this job only, plan included). */
export interface SpreadView {
  readonly label: string;
  /** Fewest and most tasks held by any value the job could use (0 when there is none). */
  readonly min: number;
  readonly max: number;
  countOf(value: string): number;
}

/** What scorers read beyond the machine, the job and the plan: per-job state built once. */
export interface ScoreContext {
  spread: SpreadView | null;
}

/** A scorer: how good a feasible machine is for one more task of the job, 0 (worst) to 100 (best). */
export type Scorer = (
  machine: MachineView,
  job: JobView,
  inflight: InFlightView,
  context: ScoreContext,
) => number;

export interface Explanation {
  machines: number;
  feasible: number;
  rejected: Partial<Record<RejectionReason, number>>;
  /** Set when the job waits for its quota rather than for machines. */
  quota?: { band: string; dimension: Dimension; free: number; request: number };
}

export interface JobPlan {
  placements: Placement[];
  /** Tasks left without a machine. */
  unplaced: number;
  /** Set when some task found no machine: why, over the whole snapshot. */
  explanation: Explanation | null;
  /** False when the plan chose to leave the unplaced tasks waiting rather than preempt (flow). */
  preempt?: boolean;
}
