import type { JobHelpers, Runner, Task } from "graphile-worker";
import type { Pool } from "../db/pool.ts";
import { pruneMachineChanges } from "../db/queries/machine-changes-prune.ts";
import { enforceMachineRules, enforceMachines } from "../db/queries/machine-enforce.ts";
import { checkLostMachines } from "../db/queries/machine-lost.ts";
import { foldPendingCounts } from "../db/queries/pending-fold.ts";
import type { Logger } from "../log.ts";

/**
 * The lost-machine check as a graphile-worker job, run by whichever scheduler worker process takes
 * it: one job, never one per process (its job key keeps one queued), and no extra process to deploy
 * or to lose — any surviving worker runs it. (The hot path's statistics are kept apart, every
 * second: src/queue/statistics-keeper.ts.)
 *
 * Every `checkEveryMs` it queues its own next run (retrying for a while if the database is down).
 * Every worker queues it when its runner starts, and graphile-worker's crontab once a minute, with
 * the same key: that adds nothing while the chain is alive (the queued run keeps its time), and
 * starts a new chain when a crash broke it (a worker killed mid-check holds that job locked for
 * hours; a job added with its key is then created afresh). Each run also folds the pending-task
 * counts that ended connections left (omega.fold_pending_counts) and prunes the machine change log
 * the snapshot syncs read (omega.prune_machine_changes).
 */
export const CHECK_MACHINES_TASK = "omega:check-machines";
/** Queued by the database (omega.queue_enforcement) when a machine's taints or drain change. */
export const ENFORCE_MACHINE_TASK = "omega:enforce-machine";

export interface MaintenanceOptions {
  /** A machine whose agent is silent this long is taken down and its tasks placed elsewhere. */
  lostAfterMs: number;
  /** How often the check runs. */
  checkEveryMs: number;
}

export const DEFAULT_MAINTENANCE: MaintenanceOptions = { lostAfterMs: 30_000, checkEveryMs: 5_000 };

export const maintenanceCrontab = `* * * * * ${CHECK_MACHINES_TASK} ?id=omega-check-machines&jobKey=${CHECK_MACHINES_TASK}&jobKeyMode=preserve_run_at`;

/** Queues the check now unless a run is already queued (which keeps its time). */
export async function ensureMaintenance(addJob: Runner["addJob"]): Promise<void> {
  await addJob(CHECK_MACHINES_TASK, {}, { jobKey: CHECK_MACHINES_TASK, jobKeyMode: "preserve_run_at" });
}

// How long a check keeps trying to queue its successor through a database outage before leaving
// the chain to a worker's start or the crontab.
const REQUEUE_FOR_MS = 10_000;

export function maintenanceTasks(
  pool: Pool,
  options: MaintenanceOptions,
  logger: Logger,
): Record<string, Task> {
  // A longer gap between checks means heartbeats may not have been able to arrive (see
  // omega.watch_machines): well above the check interval, well below the timeout.
  const maxGapMs = Math.max(2 * options.checkEveryMs, options.lostAfterMs / 2);
  const requeue = async (helpers: JobHelpers) => {
    const runAt = new Date(Date.now() + options.checkEveryMs);
    const deadline = Date.now() + REQUEUE_FOR_MS;
    for (let delay = 250; ; delay *= 2) {
      try {
        await helpers.addJob(
          CHECK_MACHINES_TASK,
          {},
          { runAt, jobKey: CHECK_MACHINES_TASK, jobKeyMode: "replace", maxAttempts: 1 },
        );
        // Workers notice a job scheduled for later only when they next poll (every 2 s): a nudge
        // at its time keeps the interval what it says. (Should this process die, a poll finds it.)
        setTimeout(() => {
          pool.query(`select pg_notify('jobs:insert', '{"count":1}')`).catch(() => {});
        }, options.checkEveryMs).unref();
        return;
      } catch (error) {
        if (Date.now() + delay > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };
  const checkMachines: Task = async (_payload, helpers) => {
    try {
      const { lost, tasksMoved } = await checkLostMachines(pool, options.lostAfterMs, maxGapMs);
      if (lost.length > 0 || tasksMoved > 0) logger.warn({ lost, tasksMoved }, "lost machines");
      // NoExecute taints and drains: the sweep behind the per-machine jobs (a lost one, a task
      // placed on a tainted machine since, a tolerationSeconds run out).
      const evicted = await enforceMachines(pool);
      if (evicted > 0) logger.info({ evicted }, "tasks evicted by NoExecute taints or drains");
      await foldPendingCounts(pool);
      await pruneMachineChanges(pool);
    } finally {
      // Next run queued even when this one failed: a database outage must not end the chain.
      await requeue(helpers);
    }
  };
  const enforceMachine: Task = async (payload) => {
    const { cell, machineId } = payload as { cell: string; machineId: number };
    const evicted = await enforceMachineRules(pool, cell, machineId);
    if (evicted > 0)
      logger.info({ cell, machineId, evicted }, "tasks evicted by a NoExecute taint or a drain");
  };
  return { [CHECK_MACHINES_TASK]: checkMachines, [ENFORCE_MACHINE_TASK]: enforceMachine };
}
