import { Command } from "commander";
import { positiveInt } from "./args.ts";

const list = (value: string) => value.split(",").map((v) => positiveInt(v.trim()));

export function benchCommand(): Command {
  const bench = new Command("bench").description(
    "benchmarks: each creates its own database, prints a table and writes bench/results/<scenario>.json (and .svg)",
  );
  bench
    .command("throughput")
    .description(
      "place a C1M-shaped workload with 1, 2, 4 scheduler processes; vs the write ceiling and pessimistic locking",
    )
    .option("--machines <n>", "machines in the cell (Default: 10000)", positiveInt, 10_000)
    .option(
      "--tasks <n>",
      "tasks to place, in jobs of 1–1000 (Default: 200000; C1M: 1000000)",
      positiveInt,
      200_000,
    )
    .option("--workers <list>", "scheduler counts to compare (Default: 1,2,4)", list, [1, 2, 4])
    .option("--scheduler <name>", "scheduler profile (Default: batch)", "batch")
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runThroughput } = await import("../bench/throughput.ts");
      await runThroughput(quick ? { ...options, machines: 200, tasks: 2_000, workers: [1, 2] } : options);
    });

  // One pessimistic scheduler of the throughput baseline; started by the bench, not by people.
  bench
    .command("pessimistic-worker", { hidden: true })
    .requiredOption("--cell <name>")
    .option("--scheduler <name>", "scheduler profile (Default: batch)", "batch")
    .action(async (options: { cell: string; scheduler: string }) => {
      const { startPessimisticWorker } = await import("../bench/pessimistic-worker.ts");
      const { log } = await import("../log.ts");
      const { onShutdown } = await import("./shutdown.ts");
      if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is required");
      const worker = await startPessimisticWorker({ url: process.env.DATABASE_URL, ...options });
      onShutdown(log, () => worker.stop());
    });
  return bench;
}
