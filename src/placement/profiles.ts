import { DEFAULT_FLOW_COSTS, type FlowCosts } from "./flow/costs.ts";
import type { FilterName, PipelineConfig } from "./types.ts";

/**
 * A scheduler: the pipeline it runs plus how its plans are committed and retried.
 *
 * - `sampleSize`: feasible machines scored per task. `sampleFraction` (optional) raises it to that
 *   fraction of the cell's machines, so a thorough profile looks further in a bigger cell.
 * - `conflictMode`: `fine` rejects a placement only if it no longer fits (Omega's fine-grained
 *   detection); `coarse` rejects it if the machine changed at all since the snapshot.
 * - `transactionMode`: `incremental` commits what still holds; `all-or-nothing` commits the whole
 *   plan or none of it. (Gangs are all-or-nothing per job either way: the commit enforces it.)
 * - `maxAttempts`: plans tried on fresh state before the work is parked as blocked (progress resets it).
 * - `batchSize`: jobs leased and planned together into one plan (one commit).
 * - `preemption`: a task that fits nowhere may evict lower-priority claims (SPEC's rules, which
 *   the commit procedure enforces whatever this says).
 * - `flow` (optional): place each leased batch at once by min-cost flow with these costs (see
 *   flow/plan-flow.ts) rather than job by job through the pipeline.
 * - `decisionTime` (optional, for experiments): extra time spent per planned job, `jobMs + taskMs ×
 *   tasks placed` — Omega's t_job and t_task — so the real system can reproduce the paper's §5.
 */
export interface SchedulerProfile extends PipelineConfig {
  name: string;
  description: string;
  conflictMode: "fine" | "coarse";
  transactionMode: "incremental" | "all-or-nothing";
  maxAttempts: number;
  batchSize: number;
  preemption: boolean;
  decisionTime?: { jobMs: number; taskMs: number };
  flow?: FlowCosts;
  /** An HTTP extender that filters and scores candidates (src/scheduler/extender.ts). */
  extender?: { url: string; timeoutMs?: number; ignorable?: boolean; weight?: number };
}

const ALL_FILTERS: readonly FilterName[] = [
  "machineState",
  "selector",
  "tolerations",
  "affinity",
  "capacity",
  "maxPerMachine",
];

/**
 * What the job prefers (PreferNoSchedule taints, preferredAffinity), in every built-in profile,
 * with kube-scheduler's default weights (TaintToleration 3, NodeAffinity 2). Constant over machines
 * for a job that prefers nothing, so they change no other choice.
 */
const PREFERENCES = [
  { name: "taintToleration", weight: 3 },
  { name: "nodeAffinity", weight: 2 },
] as const;

/**
 * Fast and bin-packing: power of two choices (Nomad's batch scheduler), the fuller machine wins,
 * which keeps whole machines free for big tasks. Many jobs per plan to amortise the commit.
 */
export const batchProfile = Object.freeze<SchedulerProfile>({
  name: "batch",
  description: "fast, bin-packing: 2 sampled machines per task, the fuller one wins",
  filters: ALL_FILTERS,
  scorers: [{ name: "mostAllocated", weight: 1 }, ...PREFERENCES],
  sampleSize: 2,
  conflictMode: "fine",
  transactionMode: "incremental",
  maxAttempts: 2,
  batchSize: 32,
  preemption: true,
});

/**
 * Thorough and spreading: scores at least 16 machines or 0.5% of the cell per task (50 of 10,000;
 * Nomad takes log2 N = 14, Kubernetes 5%, which cost 20× more here: ~78k vs ~19k placements/s),
 * prefers emptier, evenly used machines and spreads a job over zones (weight 2, so spreading
 * outweighs either resource scorer). A job's own spreadBy overrides the zone label.
 */
export const serviceProfile = Object.freeze<SchedulerProfile>({
  name: "service",
  description:
    "thorough, spreading: 16 machines or 0.5% of the cell scored per task, emptiest wins, spread over zones",
  filters: ALL_FILTERS,
  scorers: [
    { name: "leastAllocated", weight: 1 },
    { name: "balancedAllocation", weight: 1 },
    { name: "spread", weight: 2 },
    ...PREFERENCES,
  ],
  sampleSize: 16,
  sampleFraction: 0.005,
  spreadBy: "zone",
  conflictMode: "fine",
  transactionMode: "incremental",
  maxAttempts: 5,
  batchSize: 8,
  preemption: true,
});

/**
 * Global: each lease of up to 128 jobs is placed at once by min-cost flow (Quincy, Firmament), with
 * data locality, load balance, wait time and preemption as costs. What the flow leaves (shapes that
 * do not mix on a machine) goes through the pipeline below, which spreads as `service` does.
 */
export const flowProfile = Object.freeze<SchedulerProfile>({
  name: "flow",
  description:
    "global: a batch of jobs placed at once by min-cost flow (locality, load, wait, preemption costs)",
  filters: ALL_FILTERS,
  scorers: [
    { name: "leastAllocated", weight: 1 },
    { name: "balancedAllocation", weight: 1 },
  ],
  sampleSize: 16,
  conflictMode: "fine",
  transactionMode: "incremental",
  maxAttempts: 3,
  batchSize: 128,
  preemption: true,
  flow: DEFAULT_FLOW_COSTS,
});

/** The schedulers every deployment has (their names are seeded in omega.schedulers). */
export const builtinProfiles: Readonly<Record<string, SchedulerProfile>> = Object.freeze({
  batch: batchProfile,
  service: serviceProfile,
  flow: flowProfile,
});
