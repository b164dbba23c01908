import { Command } from "commander";
import { positiveInt } from "./args.ts";

const list = (value: string) => value.split(",").map((v) => positiveInt(v.trim()));

export function benchCommand(): Command {
  const bench = new Command("bench").description(
    "benchmarks: print a table and write bench/results/<scenario>.json",
  );
  bench
    .command("throughput")
    .description(
      "place a C1M-shaped workload with 1, 2, 4 scheduler worker processes; placements/s and conflicts",
    )
    .option("--machines <n>", "machines in the cell (Default: 10000)", positiveInt, 10_000)
    .option("--tasks <n>", "tasks to place (Default: 200000)", positiveInt, 200_000)
    .option("--workers <list>", "worker process counts to compare (Default: 1,2,4)", list, [1, 2, 4])
    .option("--scheduler <name>", "scheduler profile the workers run (Default: batch)", "batch")
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async (options) => {
      const { runThroughput } = await import("../bench/throughput.ts");
      await runThroughput(
        options.quick ? { ...options, machines: 200, tasks: 2_000, workers: [1, 2] } : options,
      );
    });
  return bench;
}
