import { Command } from "commander";
import { positiveInt } from "./args.ts";

const list = (value: string) => value.split(",").map((v) => positiveInt(v.trim()));
const countList = (value: string) =>
  value.split(",").map((v) => (v.trim() === "0" ? 0 : positiveInt(v.trim())));

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
    .option(
      "--concurrency <n>",
      "evaluations at once per worker process (Default: 2, as omega worker)",
      positiveInt,
      2,
    )
    .option(
      "--decision-ms <n>",
      "Omega's t_job: time each scheduler spends deciding per job, optimistic and pessimistic alike (Default: 0)",
      (v) => (v.trim() === "0" ? 0 : positiveInt(v)),
      0,
    )
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option(
      "--analyze-empty",
      "analyze the whole database before the workload arrives, as a user might on a fresh install",
    )
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runThroughput } = await import("../bench/throughput.ts");
      await runThroughput(quick ? { ...options, machines: 200, tasks: 2_000, workers: [1, 2] } : options);
    });

  bench
    .command("latency")
    .description(
      "open-loop HTTP submissions of small jobs at fixed rates: submit→placed and accept percentiles",
    )
    .option("--machines <n>", "machines in the cell (Default: 1000)", positiveInt, 1_000)
    .option(
      "--rates <list>",
      "offered loads in jobs/s, in order (Default: 50,200,500,1000)",
      list,
      [50, 200, 500, 1000],
    )
    .option("--seconds <n>", "seconds of submissions per rate (Default: 10)", positiveInt, 10)
    .option("--workers <n>", "scheduler worker processes (Default: 2)", positiveInt, 2)
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runLatency } = await import("../bench/latency.ts");
      await runLatency(
        quick ? { ...options, machines: 100, rates: [20, 200], seconds: 1, workers: 1 } : options,
      );
    });

  bench
    .command("burst")
    .description(
      "open-loop HTTP submissions at a fixed rate against a cell they fill: all accepted, what fits placed fast",
    )
    .option("--machines <n>", "machines in the cell, 32 cores each (Default: 200)", positiveInt, 200)
    .option("--rate <n>", "jobs/s offered (Default: 300)", positiveInt, 300)
    .option("--seconds <n>", "seconds of submissions (Default: 30)", positiveInt, 30)
    .option("--workers <n>", "scheduler worker processes (Default: 2)", positiveInt, 2)
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runBurst } = await import("../bench/burst.ts");
      await runBurst(quick ? { ...options, machines: 4, rate: 50, seconds: 2, workers: 1 } : options);
    });

  bench
    .command("omega")
    .description(
      "the Omega paper's §5 on the real system: conflicts and busyness vs schedulers, t_job, conflict and transaction modes",
    )
    .option("--machines <n>", "machines in each experiment's cell (Default: 100)", positiveInt, 100)
    .option("--seconds <n>", "seconds of arrivals per experiment (Default: 10)", positiveInt, 10)
    .option("--schedulers <list>", "scheduler counts (Default: 1,2,4,8)", list, [1, 2, 4, 8])
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing")
    .action(async ({ quick, ...options }) => {
      const { runOmega } = await import("../bench/omega.ts");
      const full = { ...options, tJobs: [0.01, 0.1, 1, 10], modeSchedulers: 4 };
      await runOmega(
        quick
          ? // (t_job at most 0.1 s: at 1 s a scheduler under a loaded CI may not commit a plan within
            // the second of arrivals, and a point with no plan says nothing.)
            { ...full, machines: 30, seconds: 1, schedulers: [1, 2], tJobs: [0.01, 0.1], modeSchedulers: 2 }
          : full,
      );
    });

  bench
    .command("scale")
    .description("cost per plan, commit and snapshot sync as the cell grows and as claims pile up")
    .option("--machines <list>", "cell sizes (Default: 1000,10000,50000)", list, [1_000, 10_000, 50_000])
    .option(
      "--claims <list>",
      "claims already placed, at the middle size (Default: 0,100000,300000)",
      countList,
      [0, 100_000, 300_000],
    )
    .option(
      "--changes <list>",
      "machines changed before a timed sync (Default: 0,10,50,500,5000)",
      countList,
      [0, 10, 50, 500, 5000],
    )
    .option("--repeat <n>", "runs per measurement; medians are reported (Default: 9)", positiveInt, 9)
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing")
    .action(async ({ quick, ...options }) => {
      const { runScale } = await import("../bench/scale.ts");
      await runScale(
        quick
          ? { ...options, machines: [200, 1000], claims: [0, 2000], changes: [0, 10, 50], repeat: 3 }
          : options,
      );
    });

  bench
    .command("noisy")
    .description(
      "noisy neighbour: a tenant's 1-task submit latency while another submits 100,000-task jobs (with default and raised limits)",
    )
    .option("--machines <n>", "machines in the cell (Default: 1000)", positiveInt, 1_000)
    .option("--seconds <n>", "seconds of submissions per run (Default: 20)", positiveInt, 20)
    .option("--rate <n>", "the quiet tenant's 1-task jobs per second (Default: 20)", positiveInt, 20)
    .option("--noisy-tasks <n>", "tasks in each noisy job (Default: 100000)", positiveInt, 100_000)
    .option("--noisy-concurrency <n>", "noisy submissions in flight (Default: 4)", positiveInt, 4)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runNoisy } = await import("../bench/noisy.ts");
      await runNoisy(
        quick
          ? { ...options, machines: 50, seconds: 2, rate: 10, noisyTasks: 20_000, noisyConcurrency: 2 }
          : options,
      );
    });

  bench
    .command("flow")
    .description(
      "min-cost-flow planning time for one batch of pending tasks on a big cell, beside batch and service (no database)",
    )
    .option("--machines <n>", "machines in the cell (Default: 10000)", positiveInt, 10_000)
    .option("--tasks <list>", "pending tasks per batch (Default: 1000,10000)", list, [1_000, 10_000])
    .option("--repeat <n>", "runs per measurement; medians are reported (Default: 3)", positiveInt, 3)
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runFlowBench } = await import("../bench/flow.ts");
      await runFlowBench(quick ? { ...options, machines: 200, tasks: [100, 400], repeat: 1 } : options);
    });

  bench
    .command("quality")
    .description(
      "the same saturating workload through each scheduler: time, utilisation, unplaced tasks, stranded GPUs, locality hits",
    )
    .option("--machines <n>", "machines in the cell (Default: 1000)", positiveInt, 1_000)
    .option("--demand <x>", "cpu asked as a multiple of the cell's (Default: 1.2)", Number.parseFloat, 1.2)
    .option(
      "--schedulers <list>",
      "schedulers to compare (Default: batch,service,flow)",
      (v: string) => v.split(",").map((s) => s.trim()),
      ["batch", "service", "flow"],
    )
    .option("--seed <n>", "workload seed (Default: 1)", positiveInt, 1)
    .option("--timeout <s>", "seconds to wait for a scheduler to settle (Default: 600)", positiveInt, 600)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing")
    .action(async ({ quick, ...options }) => {
      const { runQuality } = await import("../bench/quality.ts");
      await runQuality(quick ? { ...options, machines: 40, timeout: 120 } : options);
    });

  bench
    .command("fairness")
    .description(
      "three tenants of weights 1/1/2 (big jobs, 10,000 one-task jobs, a late one): dominant shares over time and Jain's index",
    )
    .option("--machines <n>", "machines in the cell, 16 cores and 64 GiB each (Default: 40)", positiveInt, 40)
    .option("--seconds <n>", "seconds the run lasts (Default: 120)", positiveInt, 120)
    .option("--late-at <n>", "when the late tenant arrives, in seconds (Default: 30)", positiveInt, 30)
    .option("--big-job-tasks <n>", "tasks per big job (Default: 1000)", positiveInt, 1_000)
    .option(
      "--big-jobs <n>",
      "big jobs of the flooding and the late tenant each (Default: 8)",
      positiveInt,
      8,
    )
    .option("--small-jobs <n>", "one-task jobs of the third tenant (Default: 10000)", positiveInt, 10_000)
    .option("--workers <n>", "batch worker processes (Default: 2)", positiveInt, 2)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about fairness")
    .action(async ({ quick, ...options }) => {
      const { runFairness } = await import("../bench/fairness.ts");
      await runFairness(
        quick
          ? {
              ...options,
              machines: 4,
              seconds: 24,
              lateAt: 4,
              bigJobTasks: 100,
              bigJobs: 2,
              smallJobs: 300,
              workers: 1,
            }
          : options,
      );
    });

  bench
    .command("rebalance")
    .description(
      "the rebalancer: each strategy on a cell laid out badly for it, rebalanced until it settles; each metric before, after and per moved task",
    )
    .option("--machines <n>", "machines in the cell (Default: 1000)", positiveInt, 1_000)
    .option("--periods <n>", "periods at most per case (Default: 20)", positiveInt, 20)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runRebalanceBench } = await import("../bench/rebalance.ts");
      await runRebalanceBench(quick ? { ...options, machines: 20, periods: 5 } : options);
    });

  bench
    .command("chain")
    .description(
      "successor start latency: predecessor's succeeded report → successor placed, for chains of one-task jobs, with and without prePlace",
    )
    .option("--chains <n>", "chains per mode (Default: 10)", positiveInt, 10)
    .option("--stages <n>", "jobs in each chain (Default: 10)", positiveInt, 10)
    .option("--machines <n>", "machines in the cell (Default: 100)", positiveInt, 100)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runChain } = await import("../bench/chain.ts");
      await runChain(quick ? { ...options, chains: 1, stages: 4, machines: 10 } : options);
    });

  bench
    .command("vocabulary")
    .description("placements/s per placement-vocabulary constraint kind beside plain jobs (issue 11)")
    .option("--machines <n>", "machines in the cell (Default: 10000)", positiveInt, 10_000)
    .option("--jobs <n>", "jobs per kind (Default: 64)", positiveInt, 64)
    .option("--tasks <n>", "tasks per job (Default: 32)", positiveInt, 32)
    .option("--quick", "tiny sizes, for CI: keeps the harness working, proves nothing about speed")
    .action(async ({ quick, ...options }) => {
      const { runVocabulary } = await import("../bench/vocabulary.ts");
      await runVocabulary(quick ? { ...options, machines: 50, jobs: 4, tasks: 4 } : options);
    });

  // One pessimistic scheduler of the throughput baseline; started by the bench, not by people.
  bench
    .command("pessimistic-worker", { hidden: true })
    .requiredOption("--cell <name>")
    .option("--scheduler <name>", "scheduler profile (Default: batch)", "batch")
    .option("--profiles <file>", "JSON file of scheduler profiles")
    .action(async (options: { cell: string; scheduler: string; profiles?: string }) => {
      const { startPessimisticWorker } = await import("../bench/pessimistic-worker.ts");
      const { log } = await import("../log.ts");
      const { onShutdown } = await import("./shutdown.ts");
      if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is required");
      const worker = await startPessimisticWorker({ url: process.env.DATABASE_URL, ...options });
      onShutdown(log, () => worker.stop());
    });
  return bench;
}
