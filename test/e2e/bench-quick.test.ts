import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { omega } from "../support/processes.ts";

// Every scenario's quick mode, as a user runs it: a real `omega bench` process creating its own
// databases and worker processes. Shapes only — quick sizes prove nothing about speed.
let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), "omega-bench-results-"));
});
afterAll(() => rm(out, { recursive: true, force: true }));

async function runQuick(scenario: string) {
  const bench = omega(["bench", scenario, "--quick"], { OMEGA_BENCH_RESULTS: out, LOG_LEVEL: "warn" });
  const code = await bench.exited;
  expect(code, bench.output()).toBe(0);
  const report = JSON.parse(await readFile(path.join(out, `${scenario}.json`), "utf8"));
  expect(report).toMatchObject({
    scenario,
    machine: {
      cores: expect.any(Number),
      postgres: expect.stringMatching(/^PostgreSQL \d+/),
      postgresSettings: { fsync: expect.any(String), synchronous_commit: expect.any(String) },
      node: process.version,
      command: `omega bench ${scenario} --quick`,
    },
    options: expect.any(Object),
    wallSeconds: expect.any(Number),
  });
  return { report, output: bench.output() };
}

const svg = async (name: string) => {
  const text = await readFile(path.join(out, name), "utf8");
  expect(text).toMatch(/^<svg [^>]*>[\s\S]*<polyline [\s\S]*<\/svg>\n$/);
};

describe("omega bench --quick", { timeout: 120_000 }, () => {
  it("throughput: ours, the write ceiling and the pessimistic baseline per scheduler count, with ratios", async () => {
    const { report, output } = await runQuick("throughput");
    expect(report.rows.map((r: { schedulers: number }) => r.schedulers)).toEqual([1, 2]);
    for (const row of report.rows) {
      expect(row.ours).toMatchObject({
        placed: 2000,
        placementsPerSecond: expect.any(Number),
        plansPerSecond: expect.any(Number),
        conflictFraction: expect.any(Number),
        timeSplit: { syncMs: expect.any(Number), planMs: expect.any(Number), commitMs: expect.any(Number) },
      });
      // How long each commit held its locks: the bench's own server records commit timestamps (a
      // DATABASE_URL's may not: null).
      if (process.env.DATABASE_URL === undefined)
        for (const run of [row.ours, row.pessimistic])
          expect(run.lockHolds).toEqual({
            commits: run.plans,
            p50Ms: expect.any(Number),
            p99Ms: expect.any(Number),
            maxMs: expect.any(Number),
          });
      expect(row.ours.lockHolds === null || row.ours.lockHolds.p50Ms <= row.ours.lockHolds.maxMs).toBe(true);
      expect(row.pessimistic.placed).toBe(2000);
      expect(row.ceiling.placed).toBe(2000);
      expect(row.oursVsCeiling).toBeCloseTo(row.oursPerSecond / row.ceilingPerSecond, 1);
      expect(row.oursVsPessimistic).toBeCloseTo(row.oursPerSecond / row.pessimisticPerSecond, 1);
    }
    expect(output).toContain("÷ceiling");
    expect(output).toContain("locks held p50/p99 ms");
    await svg("throughput.svg");
  });

  it("latency: percentiles, database ms and write transactions per job per offered rate, and the verdicts", async () => {
    const { report } = await runQuick("latency");
    expect(report.rows.map((r: { rate: number }) => r.rate)).toEqual([20, 200]);
    for (const row of report.rows) {
      expect(row.jobs).toBe(row.rate);
      expect(row.failed).toBe(0);
      expect(row.placedP50Ms).toBeLessThanOrEqual(row.placedP99Ms);
      expect(row.acceptP50Ms).toBeLessThanOrEqual(row.acceptP99Ms);
      expect(row.writeTxPerJob).toBeGreaterThan(0);
      // Null where the server has no pg_stat_statements (a DATABASE_URL of the user's own).
      expect(row.dbMsPerJob === null || row.dbMsPerJob > 0).toBe(true);
    }
    expect(report.verdicts).toEqual([expect.stringMatching(/^200 jobs\/s: p99 .* (met|missed)$/)]);
    // Second by second, per rate: where in the run the tail comes from.
    for (const rate of [20, 200]) {
      expect(report.bySecond[rate][0]).toEqual({
        second: 0,
        placedP50Ms: expect.any(Number),
        placedP99Ms: expect.any(Number),
        acceptP50Ms: expect.any(Number),
        acceptP99Ms: expect.any(Number),
      });
    }
    await svg("latency.svg");
  });

  it("burst: every request's fate, placement of what fits, parked and evicted work", async () => {
    const { report } = await runQuick("burst");
    expect(report.row).toMatchObject({
      requests: 100,
      refused: 0,
      accepted: 100,
      jobsPlaced: expect.any(Number),
      jobsParked: expect.any(Number),
      writeTxPerJob: expect.any(Number),
    });
    // 4 machines of 32 cores for ~250 one-core tasks: some placed, the rest parked.
    expect(report.row.tasksHolding).toBeGreaterThan(0);
    expect(report.row.jobsParked).toBeGreaterThan(0);
    expect(report.verdict).toMatch(/^every request accepted: yes/);
  });

  it("fairness: dominant shares over time per tenant, and Jain's index of weighted shares once full", async () => {
    const { report } = await runQuick("fairness");
    expect(report.rows.map((r: { tenant: string; weight: number }) => [r.tenant, r.weight])).toEqual([
      ["flood", 1],
      ["many", 1],
      ["late", 2],
    ]);
    expect(report.samples.length).toBeGreaterThan(5);
    expect(report.jain).toMatchObject({ target: 0.95, samples: expect.any(Number) });
    // Each tenant got some of the cell at some point, the late one included.
    for (const tenant of ["flood", "many", "late"]) {
      expect(
        report.samples.some(
          (s: { shares: Record<string, { dominant: number }> }) => (s.shares[tenant]?.dominant ?? 0) > 0,
        ),
      ).toBe(true);
    }
    expect(report.verdict).toMatch(/^(Jain's index|the cell never filled)/);
    await svg("fairness.svg");
  });

  it("omega: conflict fraction and busyness vs schedulers, t_job and modes", async () => {
    const { report } = await runQuick("omega");
    expect(report.bySchedulers.map((r: { point: { schedulers: number } }) => r.point.schedulers)).toEqual([
      1, 2,
    ]);
    expect(report.byTJob).toHaveLength(2);
    expect(
      report.byMode.map((r: { point: { conflictMode: string; transactionMode: string } }) => r.point),
    ).toEqual([
      expect.objectContaining({ conflictMode: "fine", transactionMode: "incremental" }),
      expect.objectContaining({ conflictMode: "coarse", transactionMode: "incremental" }),
      expect.objectContaining({ conflictMode: "fine", transactionMode: "all-or-nothing" }),
      expect.objectContaining({ conflictMode: "coarse", transactionMode: "all-or-nothing" }),
    ]);
    for (const r of [...report.bySchedulers, ...report.byTJob, ...report.byMode]) {
      expect(r.plans).toBeGreaterThan(0);
      expect(r.conflictFraction).toBeGreaterThanOrEqual(0);
      expect(r.busyness).toBeGreaterThan(0);
    }
    expect(report.ratios).toHaveProperty("coarseOverFine");
    await svg("omega-schedulers.svg");
    await svg("omega-tjob.svg");
  });

  it("scale: plan, commit and sync costs per cell size and claims", async () => {
    const { report } = await runQuick("scale");
    expect(report.rows.map((r: { machines: number; claims: number }) => [r.machines, r.claims])).toEqual([
      [200, 0],
      [1000, 0],
      [1000, 2000],
    ]);
    for (const row of report.rows) {
      expect(row).toMatchObject({ fullSyncMs: expect.any(Number), sync10Ms: expect.any(Number) });
      // A sync reads at least what changed. (It may read more: other transactions on a shared
      // server hold back the xmin its cursor starts from, which is why the report shows the rows.)
      expect(row.sync10Rows).toBeGreaterThanOrEqual(10);
      expect(row.sync50Rows).toBeGreaterThanOrEqual(50);
    }
    await svg("scale-sync.svg");
    await svg("scale-plan.svg");
  });

  it("flow: min-cost-flow planning time per batch beside batch and service", async () => {
    const { report, output } = await runQuick("flow");
    expect(report.rows.map((r: { tasks: number }) => r.tasks)).toEqual([100, 400]);
    for (const row of report.rows) {
      expect(row).toMatchObject({
        machines: 200,
        flowMs: expect.any(Number),
        batchMs: expect.any(Number),
        serviceMs: expect.any(Number),
        taskClasses: expect.any(Number),
        machineClasses: expect.any(Number),
      });
      // The cell starts up to 2/3 used: some GPU tasks may fit nowhere, for any scheduler.
      expect(row.flowPlaced).toBeGreaterThan(row.tasks / 2);
      expect(row.flowPlaced).toBeLessThanOrEqual(row.tasks);
      expect(row.byFlow).toBeGreaterThan(0);
      expect(row.batchPlaced).toBeGreaterThan(0);
    }
    expect(output).toMatch(/flow placed \d+ in [\d.]+ ms, (under|over) Firmament's one second/);
  });

  it("quality: the same saturating workload through batch, service and flow, with its quality columns", async () => {
    const { report } = await runQuick("quality");
    expect(report.rows.map((r: { scheduler: string }) => r.scheduler)).toEqual(["batch", "service", "flow"]);
    for (const row of report.rows) {
      expect(row).toMatchObject({
        settled: "yes",
        seconds: expect.any(Number),
        cpuUtil: expect.any(Number),
        strandedGpus: expect.any(Number),
      });
      // Saturated: demand is 1.2× the cpu, so some tasks wait whatever the scheduler.
      expect(row.placed).toBeGreaterThan(0);
      expect(row.unplaced).toBeGreaterThan(0);
      expect(row.placed + row.unplaced).toBe(report.workload.tasks);
    }
    // Three real runs one after the other (each its own database and worker): a minute on a
    // loaded machine, so more room than the other scenarios get.
  }, 300_000);

  it("noisy: a quiet tenant's submit percentiles beside a noisy one's huge jobs, default and raised limits", async () => {
    const { report, output } = await runQuick("noisy");
    expect(report.rows.map((r: { noisyLimits: string }) => r.noisyLimits)).toEqual(["default", "raised"]);
    const [defaults, raised] = report.rows;
    // Default limits: 20,000-task jobs are over maxTasksPerJob (10,000) and refused at admission.
    expect(defaults).toMatchObject({ noisyAccepted: 0, quietFailed: 0 });
    expect(defaults.noisyRefused).toBeGreaterThan(0);
    // Raised by the admin: they are accepted, and the quiet tenant is still answered.
    expect(raised.noisyAccepted).toBeGreaterThan(0);
    expect(raised).toMatchObject({ quietFailed: 0, quietP99Ms: expect.any(Number) });
    expect(report.targetP99Ms).toBe(50);
    expect(output).toMatch(/quiet submit p99 [\d.]+ ms (meets|misses) the 50 ms target/);
  });
  it("rebalance: each strategy repairs its layout, with every metric before, after and per moved task", async () => {
    const { report, output } = await runQuick("rebalance");
    const byCase = Object.fromEntries(report.rows.map((r: { case: string }) => [r.case, r]));
    expect(Object.keys(byCase)).toEqual(["skewed", "sparse", "zone-back", "fragmented"]);
    for (const row of report.rows) {
      expect(row.moves).toBeGreaterThan(0);
      expect(row.commitMsPerMove).toBeGreaterThan(0);
      for (const m of [
        "utilisationSpread",
        "utilisationStddev",
        "emptyMachines",
        "spreadExcess",
        "strandedGpus",
      ])
        expect(row[`${m}PerMove`]).toEqual(expect.any(Number));
    }
    expect(byCase.skewed.utilisationSpreadAfter).toBeLessThan(byCase.skewed.utilisationSpreadBefore);
    expect(byCase.sparse.emptyMachinesAfter).toBeGreaterThan(byCase.sparse.emptyMachinesBefore);
    expect(byCase["zone-back"]).toMatchObject({ spreadExcessAfter: 0 });
    expect(byCase["zone-back"].spreadExcessBefore).toBeGreaterThan(0);
    expect(byCase.fragmented).toMatchObject({
      largestPendingFitsBefore: false,
      largestPendingFitsAfter: true,
    });
    expect(output).toContain("improvement per moved task");
  });

  it("chain: successor start latency of chains of one-task jobs, plain and pre-placed, with the ratio", async () => {
    const { report, output } = await runQuick("chain");
    expect(report.rows.map((r: { mode: string; links: number }) => [r.mode, r.links])).toEqual([
      ["plain", 3],
      ["prePlace", 3],
    ]);
    for (const row of report.rows) {
      expect(row).toMatchObject({
        p50Ms: expect.any(Number),
        p99Ms: expect.any(Number),
        reportP50Ms: expect.any(Number),
      });
    }
    expect(report.ratio).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
    expect(output).toMatch(/prePlace p99 [\d.]+ ms \(target ≤ 20 ms\): (met|missed)/);
  });

  it("vocabulary: placements/s per constraint kind beside plain, every task placed", async () => {
    const { report, output } = await runQuick("vocabulary");
    expect(report.rows.map((r: { kind: string }) => r.kind)).toEqual([
      "plain",
      "tolerations",
      "affinity Gt/In",
      "preferredAffinity",
      "topologySpread zone",
      "jobAntiAffinity machine",
      "jobAffinity zone",
      "host ports",
    ]);
    for (const row of report.rows) {
      expect(row).toMatchObject({
        placed: 16,
        placementsPerSecond: expect.any(Number),
        vsPlain: expect.any(Number),
      });
    }
    expect(output).toContain("anti-affinity at");
  });
});
