import { Command } from "commander";
import { ensureMigrated } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { whenDatabaseAnswers } from "../db/when-database-answers.ts";
import { databaseUrlOrLocal } from "../instance/local.ts";
import { logFor } from "../log.ts";
import { duration, positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";

interface WorkerOptions {
  scheduler: string;
  profiles?: string;
  concurrency: number;
  lostAfter?: number;
  checkEvery?: number;
  metricsPort?: number;
  metricsHost: string;
}

export function workerCommand(): Command {
  return new Command("worker")
    .description("run one scheduler worker process (start as many as you like, of any schedulers)")
    .requiredOption("--scheduler <name>", "scheduler profile to run: batch, service, or one from --profiles")
    .option("--profiles <file>", "JSON file of scheduler profiles (merged over the built-in ones)")
    .option("--concurrency <n>", "evaluations run at once by this process (Default: 2)", positiveInt, 2)
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
    .action(async (options: WorkerOptions) => {
      // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
      const { startSchedulerWorker } = await import("../queue/scheduler-worker.ts");
      const { loadProfile } = await import("../scheduler/profile-config.ts");
      const { serveMetrics } = await import("../metrics/server.ts");
      const log = logFor(`worker:${options.scheduler}`);
      const databaseUrl = await databaseUrlOrLocal(log);
      const profile = await loadProfile(options.scheduler, options.profiles);
      const pool = createPool(databaseUrl, {
        max: options.concurrency * 2 + 4,
        name: `omega-worker-${profile.name}`,
      });
      const maintenance = {
        lostAfterMs: options.lostAfter ?? duration(process.env.OMEGA_LOST_AFTER ?? "30s"),
        checkEveryMs: options.checkEvery ?? duration(process.env.OMEGA_CHECK_EVERY ?? "5s"),
      };
      const metrics = options.metricsPort
        ? await serveMetrics(options.metricsPort, options.metricsHost, log)
        : undefined;
      // A process that cannot start must not linger for the pool's idle timeout.
      const worker = await whenDatabaseAnswers(log, async () => {
        await ensureMigrated(pool);
        return startSchedulerWorker({
          pool,
          profile,
          concurrency: options.concurrency,
          logger: log,
          maintenance,
        });
      }).catch(async (error: unknown) => {
        await metrics?.close();
        await pool.end();
        throw error;
      });
      onShutdown(log, async () => {
        await worker.stop();
        await metrics?.close();
        await pool.end();
      });
      // Started by `omega start`: it prints its banner once every worker says it is ready.
      process.send?.({ omega: "ready" });
    });
}
