import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Logger as QueueLogger, run } from "graphile-worker";
import type { Pool } from "../db/pool.ts";
import { registerScheduler, wakeEveryWorker, wakeStale } from "../db/scheduling.ts";
import type { Logger } from "../log.ts";
import { timeEvaluation } from "../metrics/scheduling.ts";
import { startPeriodicLauncher } from "../periodic/launcher.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import { evaluate } from "../scheduler/evaluate.ts";
import { postgresBackend } from "../scheduler/postgres-backend.ts";
import { CellLoops, DEFAULT_MIN_INTERVAL_MS } from "./cell-loops.ts";
import {
  DEFAULT_MAINTENANCE,
  ensureMaintenance,
  type MaintenanceOptions,
  maintenanceCrontab,
  maintenanceTasks,
} from "./maintenance.ts";
import { startStatisticsKeeper } from "./statistics-keeper.ts";
import { superviseRunner } from "./supervised-runner.ts";
import { listenForWakeUps } from "./wake-listener.ts";

export interface SchedulerWorker {
  owner: string;
  stop(): Promise<void>;
}

/**
 * How often each worker looks for schedulable work nobody holds (a lost wake-up, or the lapsed
 * leases of a dead worker): with leases of LEASE_SECONDS, a dead worker's jobs are planned again
 * within about LEASE_SECONDS + STALE_SWEEP_MS. One indexed query per sweep.
 */
const STALE_SWEEP_MS = 2_000;

/**
 * How long a wake-up waits for one of the leading worker's busy evaluations of its cell to end
 * before the other workers are woken for it (CellLoops). An evaluation of a few small jobs takes
 * 5–20 ms on two busy cores; one that takes longer has met something slow.
 */
const STALL_MS = 20;

/**
 * A worker working through a backlog asks the others for help (a full lease) at most this often
 * per cell. Each ask is a NOTIFY, and PostgreSQL commits notifying transactions one at a time,
 * each holding its lock through its flush: asked at every full lease (219 asks in a 15 s run of
 * four workers), the asks queued behind the commits (1.3 % of the busy backends' samples) and
 * held their evaluations up. Workers
 * already helping keep leasing on their own; an idle one hears the next ask.
 */
const SHARE_LOAD_INTERVAL_MS = 250;

/**
 * One scheduler worker. Wake-ups of its scheduler arrive as notifications on `omega_wake` (sent by
 * omega.wake: a submission, freed capacity, another worker asking for help) and start an
 * evaluation of that cell — in the worker that leads the scheduler's workers, and in the others
 * when its evaluations stall, when one asks for help with a backlog, and while they work through
 * one (src/queue/wake-listener.ts). A notification is one round trip, not a queue row to insert,
 * fetch and delete. Keeps one snapshot per cell in memory across evaluations and syncs it incrementally.
 * Every worker also runs the cluster's maintenance (the lost-machine check) on graphile-worker, and
 * restarts that runner if it dies (a database restart, say).
 */
export async function startSchedulerWorker(options: {
  pool: Pool;
  profile: SchedulerProfile;
  concurrency: number;
  /** (Default: DEFAULT_MIN_INTERVAL_MS.) */
  minIntervalMs?: number;
  logger: Logger;
  /** (Default: machines lost after 30 s of silence, checked every 5 s.) */
  maintenance?: MaintenanceOptions;
}): Promise<SchedulerWorker> {
  const { pool, profile, logger } = options;
  const owner = `${profile.name}@${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  await registerScheduler(pool, profile.name, profile);
  const backends = new Map<string, ReturnType<typeof postgresBackend>>();
  // Cells whose backlog this worker is working through (it leased a full batch and asked the
  // others for help): until an evaluation of it ends, it answers all their wake-ups, leading or not.
  const backlogs = new Set<string>();
  const backendOf = (cell: string) => {
    let backend = backends.get(cell);
    if (!backend) {
      const base = postgresBackend(pool, cell, profile, owner);
      let askedAt = Number.NEGATIVE_INFINITY;
      const shareLoad = async () => {
        backlogs.add(cell);
        if (performance.now() - askedAt < SHARE_LOAD_INTERVAL_MS) return;
        askedAt = performance.now();
        await base.queue.shareLoad();
      };
      backend = { ...base, queue: { ...base.queue, shareLoad } };
      backends.set(cell, backend);
    }
    return backend;
  };
  const loops = new Map<string, CellLoops>();
  let evaluations = 0;
  let stopping = false;

  const evaluateCell = async (cell: string) => {
    const backend = backendOf(cell);
    const stats = await timeEvaluation(profile.name, () =>
      evaluate({
        profile,
        ...backend,
        evaluationId: `${owner}:${++evaluations}`,
        stopping: () => stopping,
        onExtenderFailure: (failure) =>
          logger.warn(
            { cell, scheduler: profile.name, ...failure },
            failure.ignorable
              ? "extender failed: planning without it (ignorable)"
              : "extender failed: job not planned this round (not ignorable)",
          ),
      }),
    );
    // The evaluation ended on a short lease: the backlog is through.
    backlogs.delete(cell);
    if (stats.attempted > 0 || stats.parked > 0 || stats.deferred > 0)
      logger.info({ cell, scheduler: profile.name, ...stats }, "evaluation");
  };
  const wake = (cell: string) => {
    let cellLoops = loops.get(cell);
    if (!cellLoops) {
      cellLoops = new CellLoops(
        options.concurrency,
        () => evaluateCell(cell),
        (error) => logger.warn({ err: error, cell }, "evaluation failed"),
        {
          afterMs: STALL_MS,
          onStall: () => {
            if (!listener.leading) return;
            wakeEveryWorker(pool, cell, profile.name).catch((error) =>
              logger.warn({ err: error, cell }, "could not hand work to the other workers"),
            );
          },
        },
        options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS,
      );
      loops.set(cell, cellLoops);
    }
    cellLoops.wake();
  };
  // Work nobody holds (a wake-up sent while no worker listened, the lapsed leases of a dead
  // worker): omega.wake_stale notifies for it, and this worker's listener hears its own share.
  const reconcile = () => {
    wakeStale(pool).catch((error) => logger.warn({ err: error }, "stale sweep failed"));
  };
  const listener = listenForWakeUps({
    pool,
    scheduler: profile.name,
    logger,
    onWake: wake,
    alsoAnswers: (cell) => backlogs.has(cell),
    onListening: reconcile,
  });

  const runner = await superviseRunner(async () => {
    const started = await run({
      pgPool: pool,
      concurrency: 1,
      noHandleSignals: true,
      pollInterval: 2_000,
      taskList: {
        // Wake-ups queued by the omega.wake of migrations before 0021, on a database upgraded
        // while they waited: an evaluation of their cell, as they meant.
        [`schedule:${profile.name}`]: async (payload) => wake((payload as { cell: string }).cell),
        ...maintenanceTasks(pool, options.maintenance ?? DEFAULT_MAINTENANCE, logger),
      },
      crontab: maintenanceCrontab,
      logger: queueLogger(logger),
    });
    // If this fails, the crontab starts the maintenance chain within a minute.
    await ensureMaintenance(started.addJob).catch((error) =>
      logger.warn({ err: error }, "could not queue the lost-machine check"),
    );
    return started;
  }, logger);
  const sweep = setInterval(reconcile, STALE_SWEEP_MS);
  sweep.unref();
  const statistics = startStatisticsKeeper(pool, logger);
  // Periodic jobs: every worker looks, omega.run_periodic launches each scheduled time once.
  const periodic = startPeriodicLauncher({ pool, logger });
  logger.info(
    { scheduler: profile.name, owner, concurrency: options.concurrency },
    "scheduler worker started",
  );

  return {
    owner,
    async stop() {
      stopping = true;
      clearInterval(sweep);
      statistics.stop();
      await periodic.stop();
      await listener.stop();
      // Running evaluations finish; their commits are atomic either way.
      await Promise.all([...loops.values()].map((l) => l.stop()));
      await runner.stop();
      await Promise.all([...backends.values()].map((b) => b.close()));
    },
  };
}

/** graphile-worker's log lines, through our pino logger (each completed job at debug: routine). */
function queueLogger(logger: Logger): QueueLogger {
  return new QueueLogger((scope) => (level, message, meta) => {
    const routine = level === "info" && message.startsWith("Completed task");
    const method = routine ? "debug" : level === "warning" ? "warn" : level;
    logger[method]({ queue: scope, ...meta }, message);
  });
}
