import type { Pool } from "../db/pool.ts";
import * as db from "../db/scheduling.ts";
import { CellSnapshot } from "../db/snapshot.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { Committer, VictimSource, WorkQueue } from "./interfaces.ts";

/** The three interfaces of the Omega loop, backed by the database. */
export function postgresBackend(
  pool: Pool,
  cell: string,
  profile: SchedulerProfile,
  owner: string,
  leaseSeconds = 15,
) {
  const snapshot = new CellSnapshot(pool, cell);
  const leased = new Map<number, db.LeasedJob>();
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
      const jobs = await db.leaseJobs(pool, { cell, scheduler: profile.name, owner, limit, leaseSeconds });
      for (const j of jobs) leased.set(j.id, j);
      return db.loadJobViews(pool, cell, jobs);
    },
    reload(jobIds) {
      return db.loadJobViews(
        pool,
        cell,
        jobIds.flatMap((id) => leased.get(id) ?? []),
      );
    },
    async park(jobId, seenEpoch, reason) {
      leased.delete(jobId);
      return db.parkJob(pool, { cell, jobId, owner, seenEpoch, reason });
    },
    async release(jobIds) {
      for (const id of jobIds) leased.delete(id);
      await db.releaseLeases(pool, cell, jobIds, owner);
    },
    shareLoad: () => db.wake(pool, cell, profile.name),
  };
  const victims: VictimSource = {
    on: (machineIds, priority) => db.loadVictims(pool, cell, machineIds, priority),
  };
  return { snapshot, committer, queue, victims };
}
