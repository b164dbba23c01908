import type { Pool } from "../db/pool.ts";
import { withFlowInputs } from "../db/queries/job-flow-inputs.ts";
import * as db from "../db/scheduling.ts";
import { CellSnapshot } from "../db/snapshot.ts";
import { trackLeases } from "../metrics/scheduling.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { Committer, VictimSource, WorkQueue } from "./interfaces.ts";

/**
 * Leases are short and renewed every second while held (see 0020_lease_heartbeat.sql): the work of
 * a worker that dies goes back to the others once its leases lapse, within LEASE_SECONDS, and the
 * stale sweep wakes them. Five beats may be missed (a stalled event loop, a slow database) before a
 * live worker's lease lapses — and even then the commit procedure keeps the outcome correct.
 */
export const LEASE_SECONDS = 5;
const HEARTBEAT_MS = 1_000;
/** Backoff of a job that keeps conflicting: 1 s, doubling each time it comes back, at most 30 s. */
const DEFER_BASE_MS = 1_000;
const DEFER_MAX_MS = 30_000;

/** The three interfaces of the Omega loop, backed by the database, plus the lease heartbeat. */
export function postgresBackend(
  pool: Pool,
  cell: string,
  profile: SchedulerProfile,
  owner: string,
  leaseSeconds = LEASE_SECONDS,
) {
  const snapshot = new CellSnapshot(pool, cell);
  // Every lease this process holds in the cell, by job id: the heartbeat renews exactly these.
  const leased = new Map<number, db.LeasedJob>();
  // Deferred jobs still held, with their timers; and how often each job was deferred (backoff).
  const deferred = new Map<number, NodeJS.Timeout>();
  const deferrals = new Map<number, number>();
  trackLeases(profile.name, cell, () => leased.size);

  const giveBack = async (jobIds: readonly number[]) => {
    for (const id of jobIds) leased.delete(id);
    await db.releaseLeases(pool, cell, jobIds, owner);
  };
  const renew = () => {
    if (leased.size === 0) return Promise.resolve(0);
    return db.renewLeases(pool, { cell, jobIds: [...leased.keys()], owner, leaseSeconds });
  };

  const committer: Committer = {
    commit: (placements) =>
      db.commitPlan(pool, {
        cell,
        scheduler: profile.name,
        worker: owner,
        placements,
        transactionMode: profile.transactionMode,
        conflictMode: profile.conflictMode,
      }),
  };
  const queue: WorkQueue = {
    async lease(limit) {
      // The snapshot's sync rides on the lease's statement: planning follows at once.
      const work = await db.leaseWork(
        pool,
        { cell, scheduler: profile.name, owner, limit, leaseSeconds },
        { cursor: snapshot.since },
      );
      if (work.synced) snapshot.absorb(work.synced);
      for (const j of work.leased) leased.set(j.id, j);
      return profile.flow ? withFlowInputs(pool, cell, work.views) : work.views;
    },
    async reload(jobIds) {
      const views = await db.loadJobViews(
        pool,
        cell,
        jobIds.flatMap((id) => leased.get(id) ?? []),
      );
      return profile.flow ? withFlowInputs(pool, cell, views) : views;
    },
    async park(jobs, seenEpoch) {
      for (const { jobId } of jobs) {
        leased.delete(jobId);
        deferrals.delete(jobId);
      }
      return db.parkJobs(pool, { cell, jobs, owner, seenEpoch });
    },
    async defer(jobId) {
      const n = (deferrals.get(jobId) ?? 0) + 1;
      // Jobs deferred by other workers are never cleared here; forget them all now and then.
      if (deferrals.size > 10_000) deferrals.clear();
      deferrals.set(jobId, n);
      const delay = Math.min(DEFER_MAX_MS, DEFER_BASE_MS * 2 ** (n - 1)) * (0.5 + Math.random());
      const timer = setTimeout(() => {
        deferred.delete(jobId);
        // If this fails, the lease (no longer renewed) lapses and the stale sweep wakes the job.
        giveBack([jobId])
          .then(() => db.wake(pool, cell, profile.name))
          .catch(() => {});
      }, delay);
      timer.unref();
      deferred.set(jobId, timer);
    },
    async release(jobIds) {
      for (const id of jobIds) deferrals.delete(id);
      await giveBack(jobIds);
    },
    forget(jobIds) {
      for (const id of jobIds) {
        deferrals.delete(id);
        // A deferred job keeps its entry until its timer gives it back.
        if (!deferred.has(id)) leased.delete(id);
      }
    },
    shareLoad: () => db.wakeEveryWorker(pool, cell, profile.name),
  };

  let beating = false;
  const heartbeat = setInterval(() => {
    if (beating) return;
    beating = true;
    // A failed beat is retried by the next one; five in a row let the leases lapse, as they should.
    renew()
      .catch(() => {})
      .finally(() => {
        beating = false;
      });
  }, HEARTBEAT_MS);
  heartbeat.unref();

  /** Stops the heartbeat and hands deferred jobs back at once (a graceful stop should not delay them). */
  async function close(): Promise<void> {
    clearInterval(heartbeat);
    for (const timer of deferred.values()) clearTimeout(timer);
    const ids = [...deferred.keys()];
    deferred.clear();
    if (ids.length === 0) return;
    await giveBack(ids);
    // This worker may have led: the others hear it whichever leads now.
    await db.wakeEveryWorker(pool, cell, profile.name);
  }

  const victims: VictimSource = {
    on: (machineIds, priority) => db.loadVictims(pool, cell, machineIds, priority),
    reclaimable: (tenantId, priority) => db.loadReclaimable(pool, cell, tenantId, priority),
  };
  return { snapshot, committer, queue, victims, close };
}
