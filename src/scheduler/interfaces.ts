/**
 * The Omega loop behind three small interfaces, so it runs against Postgres in production and
 * against in-memory fakes in unit tests:
 * - Snapshot: the scheduler's private, possibly stale copy of the cell;
 * - Committer: proposes a plan to the authority and learns, per placement, what happened;
 * - WorkQueue: where evaluations come from and where unplaceable work is parked.
 */
import type { VictimView } from "../placement/preemption.ts";
import type { ReclaimInput } from "../placement/reclaim.ts";
import type { JobView, MachineView, Placement } from "../placement/types.ts";

export interface Snapshot {
  sync(): Promise<unknown>;
  list(): readonly MachineView[];
  readonly capacityEpoch: number;
  readonly stateVersion: number;
}

export interface PlacementOutcome {
  task_id: number;
  machine_id: number;
  /** One row per placement (committed or rejected), then one per claim it evicted. */
  outcome: "committed" | "rejected" | "evicted";
  reason: string | null;
}

export interface Committer {
  commit(placements: readonly Placement[]): Promise<PlacementOutcome[]>;
}

/** Where preemption learns which claims it could evict (read when a task fits nowhere). */
export interface VictimSource {
  /** Claims on these machines that a task of `priority` may evict, by machine id. */
  on(machineIds: readonly number[], priority: number): Promise<Map<number, VictimView[]>>;
  /** What a tenant waiting on its cohort may reclaim, or null when it is in no cohort. */
  reclaimable?(tenantId: number, priority: number): Promise<ReclaimInput | null>;
}

export interface WorkQueue {
  /** Up to `limit` jobs to plan now, exclusively ours until released, parked or expired. */
  lease(limit: number): Promise<JobView[]>;
  /** Fresh planning input for jobs we hold. */
  reload(jobIds: readonly number[]): Promise<JobView[]>;
  /**
   * Parks jobs, each with the reason its tasks show, in one round trip; returns those parked —
   * none if capacity changed since `seenEpoch` (they are given back, to be planned again).
   */
  park(jobs: readonly { jobId: number; reason: string }[], seenEpoch: number): Promise<Set<number>>;
  /**
   * Backs off from a job that keeps conflicting: it stays ours for a while (so no worker retries it
   * at once), then goes back to the queue with a wake-up; the delay grows each time it comes back.
   */
  defer(jobId: number): Promise<void>;
  /** Gives the jobs back (one round trip for the whole batch). */
  release(jobIds: readonly number[]): Promise<void>;
  /** Jobs whose last pending task a commit placed: the commit gave their leases back with it. */
  forget(jobIds: readonly number[]): void;
  /** Asks another worker to join in: there is more work than one lease holds. */
  shareLoad(): Promise<void>;
}
