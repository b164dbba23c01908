import { Command } from "commander";
import { env } from "../config.ts";
import { ensureMigrated } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { registerScheduler } from "../db/scheduling.ts";
import { whenDatabaseAnswers } from "../db/when-database-answers.ts";
import { databaseUrlOrLocal } from "../instance/local.ts";
import { type Logger, logFor } from "../log.ts";
import { DEFAULT_MIN_INTERVAL_MS } from "../queue/cell-loops.ts";
import type { RebalanceProfile } from "../rebalance/profile.ts";
import { duration, nonNegativeInt, positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";
import { surviveDatabaseOutages } from "./survive-outages.ts";

interface WorkerOptions {
  scheduler: string;
  cells?: string[];
  profiles?: string;
  concurrency: number;
  minInterval: number;
  lostAfter?: number;
  checkEvery?: number;
  metricsPort?: number;
  metricsHost: string;
  period?: number;
}

export function workerCommand(): Command {
  return new Command("worker")
    .description("run one scheduler worker process (start as many as you like, of any schedulers)")
    .requiredOption(
      "--scheduler <name>",
      "scheduler profile to run: batch, service, rebalance (moves running work), or one from --profiles",
    )
    .option("--profiles <file>", "JSON file of scheduler profiles (merged over the built-in ones)")
    .option(
      "--cells <cells>",
      "serve the partitions that own these cells (comma-separated; needs $OMEGA_PARTITIONS and $OMEGA_ROUTER_URL; Default: DATABASE_URL's cells)",
      (value: string) =>
        value
          .split(",")
          .map((c) => c.trim())
          .filter(Boolean),
    )
    .option("--concurrency <n>", "evaluations run at once by this process (Default: 2)", positiveInt, 2)
    .option(
      "--min-interval <ms>",
      `least time between the starts of two evaluations of a cell; under load, the wake-ups meanwhile are served together (Default: ${DEFAULT_MIN_INTERVAL_MS})`,
      nonNegativeInt,
      DEFAULT_MIN_INTERVAL_MS,
    )
    .option(
      "--lost-after <duration>",
      "a machine whose agent is silent this long is down and its tasks move (Default: $OMEGA_LOST_AFTER or 30s)",
      duration,
    )
    .option(
      "--check-every <duration>",
      "how often the lost-machine check runs (Default: $OMEGA_CHECK_EVERY or 5s)",
      duration,
    )
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics at http://HOST:PORT/metrics (Default: $OMEGA_METRICS_PORT, or none)",
      positiveInt,
      process.env.OMEGA_METRICS_PORT ? positiveInt(process.env.OMEGA_METRICS_PORT) : undefined,
    )
    .option("--metrics-host <host>", "address the metrics port listens on (Default: 0.0.0.0)", "0.0.0.0")
    .option(
      "--period <duration>",
      "a rebalancing scheduler's period, over its profile's (Default: the profile's, 10s for rebalance)",
      duration,
    )
    .action(async (options: WorkerOptions) => {
      // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
      const { startSchedulerWorker } = await import("../queue/scheduler-worker.ts");
      const { loadAnyProfile } = await import("../scheduler/profile-config.ts");
      const { serveMetrics } = await import("../metrics/server.ts");
      const log = logFor(`worker:${options.scheduler}`);
      surviveDatabaseOutages(log);
      const loaded = await loadAnyProfile(options.scheduler, options.profiles);
      if (loaded.kind === "rebalance") {
        const period = options.period ?? loaded.rebalance.periodMs;
        return runRebalanceWorkers(
          { ...loaded, rebalance: { ...loaded.rebalance, periodMs: period } },
          options,
          log,
        );
      }
      const profile = loaded;
      const databases = await workerDatabases(options.cells, log);
      const maintenance = {
        lostAfterMs: options.lostAfter ?? duration(process.env.OMEGA_LOST_AFTER ?? "30s"),
        checkEveryMs: options.checkEvery ?? duration(process.env.OMEGA_CHECK_EVERY ?? "5s"),
      };
      const metrics = options.metricsPort
        ? await serveMetrics(options.metricsPort, options.metricsHost, log)
        : undefined;
      // One scheduler worker per database, in this process: each serves every cell of its database.
      const running: { stop(): Promise<void> }[] = [];
      const stopAll = () => Promise.all(running.map((r) => r.stop()));
      for (const url of databases) {
        const connections = options.concurrency * 2 + 4;
        const pool = createPool(url, { max: connections, name: `omega-worker-${profile.name}` });
        // A process that cannot start must not linger on its pool's connections.
        const worker = await whenDatabaseAnswers(log, async () => {
          await ensureMigrated(pool);
          // Registered before the warm-up, which then leaves the profile's row alone (warm-up.ts).
          await registerScheduler(pool, profile.name, profile);
          const { openWarmConnections, warmScheduling } = await import("../db/warm-up.ts");
          await openWarmConnections(pool, connections, (client) => warmScheduling(client, profile), log);
          return startSchedulerWorker({
            pool,
            profile,
            concurrency: options.concurrency,
            minIntervalMs: options.minInterval,
            logger: log,
            maintenance,
          });
        }).catch(async (error: unknown) => {
          await pool.end();
          await stopAll();
          await metrics?.close();
          throw error;
        });
        running.push({ stop: () => worker.stop().finally(() => pool.end()) });
      }
      onShutdown(log, async () => {
        await stopAll();
        await metrics?.close();
      });
      // Started by `omega start`: it prints its banner once every worker says it is ready.
      process.send?.({ omega: "ready" });
    });
}

/** `omega worker --scheduler rebalance`: one rebalancing worker per database, in this process. */
async function runRebalanceWorkers(
  profile: RebalanceProfile,
  options: WorkerOptions,
  log: Logger,
): Promise<void> {
  const { startRebalanceWorker } = await import("../queue/rebalance-worker.ts");
  const { serveMetrics } = await import("../metrics/server.ts");
  const databases = await workerDatabases(options.cells, log);
  const metrics = options.metricsPort
    ? await serveMetrics(options.metricsPort, options.metricsHost, log)
    : undefined;
  const running: { stop(): Promise<void> }[] = [];
  const stopAll = () => Promise.all(running.map((r) => r.stop()));
  for (const url of databases) {
    const pool = createPool(url, { max: 4, name: `omega-worker-${profile.name}` });
    const worker = await whenDatabaseAnswers(log, async () => {
      await ensureMigrated(pool);
      return startRebalanceWorker({ pool, profile, logger: log });
    }).catch(async (error: unknown) => {
      await pool.end();
      await stopAll();
      await metrics?.close();
      throw error;
    });
    running.push({ stop: () => worker.stop().finally(() => pool.end()) });
  }
  onShutdown(log, async () => {
    await stopAll();
    await metrics?.close();
  });
  process.send?.({ omega: "ready" });
}

/**
 * The databases this worker schedules in: DATABASE_URL, or with --cells the partitions that own
 * those cells (the router's directory says which). A worker serves every cell of a partition it
 * connects to — a partition's cells share its queue — so --cells picks partitions, not cells.
 */
async function workerDatabases(cells: string[] | undefined, log: Logger): Promise<string[]> {
  if (!cells) return [await databaseUrlOrLocal(log)];
  if (!env.partitions || !env.routerUrl)
    throw new Error("--cells needs OMEGA_PARTITIONS and OMEGA_ROUTER_URL");
  const { partitionsOfCells } = await import("../router/cell-partitions.ts");
  const owners = await whenDatabaseAnswers(log, () =>
    partitionsOfCells(env.routerUrl ?? "", env.partitions ?? [], cells),
  );
  for (const o of owners)
    log.info({ partition: o.index, cells: o.cells }, "serving the partition of these cells");
  return owners.map((o) => o.url);
}
