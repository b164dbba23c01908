import { describe, expect, it } from "vitest";
import type { Resources } from "../../src/domain/resources.ts";
import type { Constraints, MachineView } from "../../src/placement/types.ts";
import { planRebalance } from "../../src/rebalance/plan.ts";
import { DEFAULT_REBALANCE } from "../../src/rebalance/profile.ts";
import { applyMoves } from "../../src/rebalance/simulate.ts";
import type {
  ClaimView,
  PendingJob,
  PlannedMove,
  RebalanceJob,
  RebalanceSettings,
  RebalanceState,
  StrategyName,
} from "../../src/rebalance/types.ts";

/** A cell built in memory: machines, jobs with their tasks on named machines, pending jobs. */
class Cell {
  machines: MachineView[] = [];
  claims: ClaimView[] = [];
  jobs = new Map<number, RebalanceJob>();
  pending: PendingJob[] = [];
  #task = 0;

  machine(name: string, capacity: Partial<Resources> = {}, labels: Record<string, string> = {}): number {
    const id = this.machines.length + 1;
    this.machines.push({
      id,
      name,
      state: "up",
      capacity: { cpu: 4000, memory: 8192, gpu: 0, disk: 0, ...capacity },
      used: { cpu: 0, memory: 0, gpu: 0, disk: 0 },
      tasks: 0,
      maxTasks: 110,
      labels,
      taints: [],
      version: 1,
    });
    return id;
  }

  job(
    spec: Omit<Partial<RebalanceJob>, "constraints"> & {
      on?: number[];
      constraints?: Partial<Constraints>;
    } = {},
  ): RebalanceJob {
    const { on = [], constraints, ...rest } = spec;
    const job: RebalanceJob = {
      id: this.jobs.size + this.pending.length + 1,
      priority: 150,
      request: { cpu: 1000, memory: 1024, gpu: 0, disk: 0 },
      taskCount: on.length,
      gangMin: null,
      maxUnavailable: null,
      unavailable: 0,
      ...rest,
      constraints: {
        selector: {},
        affinity: [],
        tolerations: [],
        maxPerMachine: null,
        spreadBy: null,
        ...constraints,
      },
    };
    this.jobs.set(job.id, job);
    for (const machineId of on) {
      const m = this.machines[machineId - 1] as MachineView;
      for (const d of ["cpu", "memory", "gpu", "disk"] as const) m.used[d] += job.request[d];
      m.tasks++;
      this.claims.push({ taskId: ++this.#task, jobId: job.id, machineId, running: true });
    }
    return job;
  }

  waiting(spec: Partial<PendingJob>): PendingJob {
    const job: PendingJob = {
      id: this.jobs.size + this.pending.length + 1,
      priority: 150,
      request: { cpu: 1000, memory: 1024, gpu: 0, disk: 0 },
      taskCount: spec.pending ?? 1,
      gangMin: null,
      maxUnavailable: null,
      unavailable: 0,
      pending: 1,
      constraints: { selector: {}, affinity: [], tolerations: [], maxPerMachine: null, spreadBy: null },
      ...spec,
    };
    this.pending.push(job);
    return job;
  }

  state(): RebalanceState {
    return {
      machines: this.machines,
      claims: this.claims,
      jobs: this.jobs,
      pending: this.pending,
      recentMoves: [],
    };
  }
}

const settings = (strategies: StrategyName[], extra: Partial<RebalanceSettings> = {}): RebalanceSettings => ({
  ...DEFAULT_REBALANCE,
  strategies,
  ...extra,
});

/** Plans and applies `periods` periods; returns every move and the last state. */
function run(state: RebalanceState, s: RebalanceSettings, periods: number) {
  const moves: PlannedMove[] = [];
  let current = state;
  for (let i = 0; i < periods; i++) {
    const plan = planRebalance(current, s);
    moves.push(...plan.moves);
    current = applyMoves(current, plan.moves);
  }
  return { moves, state: current };
}

function utilisation(state: RebalanceState): number[] {
  return state.machines.map((m) => Math.max(m.used.cpu / m.capacity.cpu, m.used.memory / m.capacity.memory));
}

describe("LowNodeUtilization", () => {
  it("moves work from machines above the high threshold to machines below the low one, and converges", () => {
    const cell = new Cell();
    const hot = cell.machine("hot");
    for (const n of ["a", "b", "c"]) cell.machine(n);
    cell.job({ on: [hot, hot, hot, hot] });
    const { moves, state } = run(cell.state(), settings(["LowNodeUtilization"]), 5);
    expect(moves.length).toBeGreaterThan(0);
    expect(moves.every((m) => m.from === hot)).toBe(true);
    expect(Math.max(...utilisation(state))).toBeLessThanOrEqual(0.7);
    // Converged: nothing more to do.
    expect(planRebalance(state, settings(["LowNodeUtilization"])).moves).toEqual([]);
  });

  it("moves lowest priority first and keeps a job within its disruption budget", () => {
    const cell = new Cell();
    const hot = cell.machine("hot");
    cell.machine("a");
    cell.machine("b");
    const prod = cell.job({ priority: 250, on: [hot, hot], maxUnavailable: 0 });
    const batch = cell.job({ priority: 100, on: [hot, hot], maxUnavailable: 1 });
    const plan = planRebalance(cell.state(), settings(["LowNodeUtilization"]));
    expect(plan.moves.map((m) => m.jobId)).toEqual([batch.id]);
    expect(plan.moves.some((m) => m.jobId === prod.id)).toBe(false);
  });
});

describe("the placement vocabulary (moves the commit would refuse are not proposed)", () => {
  // LowNodeUtilization tries the emptiest target first: each case makes the forbidden machine the
  // emptiest, so a planner blind to the vocabulary would choose it.
  const db = { selector: { app: "db" }, topologyKey: "machine" };
  const vocabulary = (v: Partial<NonNullable<RebalanceJob["vocabulary"]>>) => ({
    vocabulary: { labels: {}, ports: [], antiAffinity: [], topologySpread: [], ...v },
  });
  const small = { cpu: 100, memory: 100, gpu: 0, disk: 0 };

  /** A hot machine (three filler tasks beside what the case puts there), an emptiest target, another. */
  function cellWith(zones: [string, string, string] = ["x", "y", "x"]) {
    const cell = new Cell();
    const hot = cell.machine("hot", {}, { zone: zones[0] });
    const emptiest = cell.machine("emptiest", {}, { zone: zones[1] });
    const other = cell.machine("other", {}, { zone: zones[2] });
    cell.job({ on: [hot, hot, hot] });
    cell.job({ on: [other] });
    return { cell, hot, emptiest, other };
  }

  const firstMoveOf = (cell: Cell, jobId: number) =>
    planRebalance(cell.state(), settings(["LowNodeUtilization"])).moves.find((m) => m.jobId === jobId);

  it("never beside a job it repels", () => {
    const { cell, hot, emptiest, other } = cellWith();
    cell.job({ on: [emptiest], request: small, ...vocabulary({ labels: { app: "db" } }) });
    const repeller = cell.job({ priority: 10, on: [hot], ...vocabulary({ antiAffinity: [db] }) });
    expect(firstMoveOf(cell, repeller.id)?.to).toBe(other);
  });

  it("never beside a job that repels it (the other direction)", () => {
    const { cell, hot, emptiest, other } = cellWith();
    cell.job({ on: [emptiest], request: small, ...vocabulary({ antiAffinity: [db] }) });
    const labelled = cell.job({ priority: 10, on: [hot], ...vocabulary({ labels: { app: "db" } }) });
    expect(firstMoveOf(cell, labelled.id)?.to).toBe(other);
  });

  it("never onto a machine where another claim holds its host port", () => {
    const { cell, hot, emptiest, other } = cellWith();
    cell.job({ on: [emptiest], request: small, ...vocabulary({ ports: [8080] }) });
    const ported = cell.job({ priority: 10, on: [hot], ...vocabulary({ ports: [8080] }) });
    expect(firstMoveOf(cell, ported.id)?.to).toBe(other);
  });

  it("never past a DoNotSchedule topology spread", () => {
    // The job has one task in zone x (hot) and one in y (emptiest): x to y would make it 0 / 2.
    const { cell, hot, emptiest, other } = cellWith(["x", "y", "x"]);
    const spread = cell.job({
      priority: 10,
      request: small,
      on: [hot, emptiest],
      ...vocabulary({ topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] }),
    });
    const move = firstMoveOf(cell, spread.id);
    expect(move?.from).toBe(hot);
    expect(move?.to).toBe(other);
  });
});

describe("HighNodeUtilization", () => {
  it("empties an underused machine whole onto fuller ones, or leaves it", () => {
    const cell = new Cell();
    const busy = cell.machine("busy");
    const quiet = cell.machine("quiet");
    const other = cell.machine("other");
    cell.job({ on: [busy, busy] });
    cell.job({ on: [quiet] });
    cell.job({ on: [other, other] });
    const plan = planRebalance(cell.state(), settings(["HighNodeUtilization"]));
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]).toMatchObject({ from: quiet, strategy: "HighNodeUtilization" });
    expect(plan.after.emptyMachines).toBe(plan.before.emptyMachines + 1);
  });
});

describe("RemoveDuplicates", () => {
  it("restores spreadBy when machines of a new value come back", () => {
    const cell = new Cell();
    const a1 = cell.machine("a1", {}, { zone: "a" });
    const a2 = cell.machine("a2", {}, { zone: "a" });
    cell.machine("b1", {}, { zone: "b" });
    cell.job({ on: [a1, a1, a2, a2], constraints: { spreadBy: "zone" } });
    const { moves, state } = run(cell.state(), settings(["RemoveDuplicates"]), 3);
    expect(moves).toHaveLength(2);
    expect(planRebalance(state, settings(["RemoveDuplicates"])).before.spreadExcess).toBe(0);
  });
});

describe("Defragment", () => {
  it("makes room for the largest pending gang by moving smaller work, and none when it cannot", () => {
    const cell = new Cell();
    const ms = ["m1", "m2", "m3", "m4"].map((n) => cell.machine(n));
    cell.job({ on: ms }); // one 1-core task on each machine
    const gang = cell.waiting({
      request: { cpu: 4000, memory: 1024, gpu: 0, disk: 0 },
      pending: 2,
      gangMin: 2,
    });
    const plan = planRebalance(cell.state(), settings(["Defragment"]));
    expect(plan.before.largestPendingFits).toBe(false);
    expect(plan.after.largestPendingFits).toBe(true);
    expect(plan.moves).toHaveLength(2);
    expect(plan.moves.every((m) => m.forJob === gang.id && m.strategy === "Defragment")).toBe(true);
    // A gang that needs every machine whole cannot be made room for: no move at all.
    const cell2 = new Cell();
    const ms2 = ["m1", "m2"].map((n) => cell2.machine(n));
    cell2.job({ on: ms2 });
    cell2.waiting({ request: { cpu: 4000, memory: 1024, gpu: 0, disk: 0 }, pending: 2, gangMin: 2 });
    expect(planRebalance(cell2.state(), settings(["Defragment"])).moves).toEqual([]);
  });

  it("never moves production to make room for lower priority", () => {
    const cell = new Cell();
    const ms = ["m1", "m2", "m3"].map((n) => cell.machine(n));
    cell.job({ priority: 250, on: ms });
    cell.waiting({
      priority: 150,
      request: { cpu: 4000, memory: 1, gpu: 0, disk: 0 },
      pending: 1,
      gangMin: 1,
    });
    expect(planRebalance(cell.state(), settings(["Defragment"])).moves).toEqual([]);
  });

  it("frees whole GPU machines for a GPU job, moving CPU work to machines without GPUs", () => {
    const cell = new Cell();
    const g1 = cell.machine("g1", { gpu: 8 });
    const g2 = cell.machine("g2", { gpu: 8 });
    cell.machine("c1");
    cell.job({ request: { cpu: 2000, memory: 1024, gpu: 0, disk: 0 }, on: [g1, g2] });
    cell.job({ request: { cpu: 1000, memory: 1024, gpu: 4, disk: 0 }, on: [g1, g2] });
    cell.waiting({ request: { cpu: 3000, memory: 1024, gpu: 4, disk: 0 }, pending: 1 });
    const plan = planRebalance(cell.state(), settings(["Defragment"]));
    expect(plan.before.strandedGpus).toBe(8);
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]?.to).toBe(3);
    expect(plan.after.largestPendingFits).toBe(true);
  });
});

describe("no oscillation", () => {
  it("Defragment and LowNodeUtilization together never undo a move, and stop moving", () => {
    const cell = new Cell();
    const ms = ["m1", "m2", "m3", "m4", "m5", "m6"].map((n) => cell.machine(n));
    cell.job({ on: [ms[0], ms[0], ms[0], ms[1], ms[1], ms[2], ms[3]] as number[] });
    cell.waiting({ request: { cpu: 4000, memory: 1024, gpu: 0, disk: 0 }, pending: 3, gangMin: 3 });
    const s = settings(["Defragment", "LowNodeUtilization"], { maxMovesPerPeriod: 2 });
    const { moves, state } = run(cell.state(), s, 20);
    expect(moves.length).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (const m of moves) {
      expect(seen.has(`${m.to}>${m.from}`), `move ${m.from}>${m.to} undoes an earlier one`).toBe(false);
      seen.add(`${m.from}>${m.to}`);
    }
    expect(new Set(moves.map((m) => m.taskId)).size).toBe(moves.length);
    expect(planRebalance(state, s).moves).toEqual([]);
  });

  it("plans the same moves for the same state", () => {
    const cell = new Cell();
    const hot = cell.machine("hot");
    cell.machine("a");
    cell.machine("b");
    cell.job({ on: [hot, hot, hot, hot] });
    const s = settings(["LowNodeUtilization"]);
    expect(planRebalance(cell.state(), s)).toEqual(planRebalance(cell.state(), s));
  });
});
