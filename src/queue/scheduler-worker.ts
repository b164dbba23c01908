import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Logger as QueueLogger, run, type Task } from "graphile-worker";
import type { Pool } from "../db/pool.ts";
import { registerScheduler, wakeStale } from "../db/scheduling.ts";
import type { Logger } from "../log.ts";
import { timeEvaluation } from "../metrics/scheduling.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import { evaluate } from "../scheduler/evaluate.ts";
import { postgresBackend } from "../scheduler/postgres-backend.ts";
import {
  DEFAULT_MAINTENANCE,
  ensureMaintenance,
  type MaintenanceOptions,
  maintenanceCrontab,
  maintenanceTasks,
} from "./maintenance.ts";
import { superviseRunner } from "./supervised-runner.ts";

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
 * One scheduler worker: takes its scheduler's wake-ups from the graphile-worker queue (task
 * `schedule:<name>`, so workers of other schedulers never see them) and runs evaluations. Keeps
 * one snapshot per cell in memory across evaluations and syncs it incrementally. Every worker also
 * takes the cluster's maintenance job (the lost-machine check), and restarts its graphile-worker
 * runner if it dies (a database restart, say).
 */
export async function startSchedulerWorker(options: {
  pool: Pool;
  profile: SchedulerProfile;
  concurrency: number;
  logger: Logger;
  /** (Default: machines lost after 30 s of silence, checked every 5 s.) */
  maintenance?: MaintenanceOptions;
}): Promise<SchedulerWorker> {
  const { pool, profile, logger } = options;
  const owner = `${profile.name}@${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  await registerScheduler(pool, profile.name, profile);
  const backends = new Map<string, ReturnType<typeof postgresBackend>>();
  const backendFor = (cell: string) => {
    const backend = backends.get(cell) ?? postgresBackend(pool, cell, profile, owner);
    backends.set(cell, backend);
    return backend;
  };

  const schedule: Task = async (payload, helpers) => {
    const { cell } = payload as { cell: string };
    const stats = await timeEvaluation(profile.name, () =>
      evaluate({ profile, ...backendFor(cell), evaluationId: helpers.job.id }),
    );
    if (stats.attempted > 0 || stats.parked > 0 || stats.deferred > 0)
      logger.info({ cell, scheduler: profile.name, ...stats }, "evaluation");
  };

  const runner = await superviseRunner(async () => {
    const started = await run({
      pgPool: pool,
      concurrency: options.concurrency,
      noHandleSignals: true,
      pollInterval: 2_000,
      taskList: {
        [`schedule:${profile.name}`]: schedule,
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
  const sweep = setInterval(() => {
    wakeStale(pool).catch((error) => logger.warn({ err: error }, "stale sweep failed"));
  }, STALE_SWEEP_MS);
  sweep.unref();
  logger.info(
    { scheduler: profile.name, owner, concurrency: options.concurrency },
    "scheduler worker started",
  );

  return {
    owner,
    async stop() {
      clearInterval(sweep);
      // graphile-worker lets running evaluations finish; their commits are atomic either way.
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
