import { Command } from "commander";
import { env } from "../config.ts";
import { ensureMigrated } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { log } from "../log.ts";
import { positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";

export function workerCommand(): Command {
  return new Command("worker")
    .description("run one scheduler worker process (start as many as you like, of any schedulers)")
    .requiredOption("--scheduler <name>", "scheduler profile to run: batch, service, or one from --profiles")
    .option("--profiles <file>", "JSON file of scheduler profiles (merged over the built-in ones)")
    .option("--concurrency <n>", "evaluations run at once by this process (Default: 2)", positiveInt, 2)
    .action(async (options: { scheduler: string; profiles?: string; concurrency: number }) => {
      // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
      const { startSchedulerWorker } = await import("../queue/scheduler-worker.ts");
      const { loadProfile } = await import("../scheduler/profile-config.ts");
      if (!env.databaseUrl) throw new Error("DATABASE_URL is required");
      const profile = await loadProfile(options.scheduler, options.profiles);
      const pool = createPool(env.databaseUrl, {
        max: options.concurrency * 2 + 4,
        name: `omega-worker-${profile.name}`,
      });
      // A process that cannot start must not linger for the pool's idle timeout.
      await ensureMigrated(pool).catch(async (error: unknown) => {
        await pool.end();
        throw error;
      });
      const worker = await startSchedulerWorker({
        pool,
        profile,
        concurrency: options.concurrency,
        logger: log,
      });
      onShutdown(log, async () => {
        await worker.stop();
        await pool.end();
      });
    });
}
