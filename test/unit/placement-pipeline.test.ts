import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DIMENSIONS, type Resources } from "../../src/domain/resources.ts";
import { formatExplanation } from "../../src/placement/explain.ts";
import { InFlight } from "../../src/placement/inflight.ts";
import { planJob, STAGES } from "../../src/placement/pipeline.ts";
import { batchProfile, serviceProfile } from "../../src/placement/profiles.ts";
import { mulberry32 } from "../../src/placement/random.ts";
import type {
  JobPlan,
  JobView,
  JobVocabulary,
  MachineView,
  PipelineConfig,
} from "../../src/placement/types.ts";
import { drainingMachine, fullMachine, job, machine, must, zonedMachines } from "./placement-factories.ts";

const ALL = batchProfile.filters;
const config = (over: Partial<PipelineConfig> = {}): PipelineConfig => ({
  filters: ALL,
  scorers: [{ name: "leastAllocated", weight: 1 }],
  sampleSize: 2,
  ...over,
});

/** Plans jobs in order into one overlay, as one scheduler plan over a batch of jobs does. */
function plan(machines: MachineView[], jobs: JobView[], cfg: PipelineConfig, seed = 1) {
  const inflight = new InFlight();
  const random = mulberry32(seed);
  const plans = jobs.map((j) => planJob(machines, j, cfg, inflight, random));
  return { plans, inflight };
}

/** One job planned alone. */
function planOne(machines: MachineView[], j: JobView, cfg: PipelineConfig, seed = 1): JobPlan {
  return must(plan(machines, [j], cfg, seed).plans[0]);
}

function explained(p: JobPlan): string {
  return formatExplanation(must(p.explanation, "explanation"));
}

function machinesUsed(p: JobPlan): number[] {
  return p.placements.map((x) => x.machineId);
}

function countBy<T>(items: readonly T[]): Map<T, number> {
  const out = new Map<T, number>();
  for (const i of items) out.set(i, (out.get(i) ?? 0) + 1);
  return out;
}

describe("planJob", () => {
  it("places every task when there is room, with the machine version it saw", () => {
    const machines = [machine({ version: 7 }), machine({ version: 9 })];
    const { plans, inflight } = plan(machines, [job({ tasks: 6 })], config());
    const p = must(plans[0]);
    expect(p.unplaced).toBe(0);
    expect(p.explanation).toBeNull();
    expect(p.placements.map((x) => x.taskId)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const x of p.placements) {
      expect(x.machineVersion).toBe(machines.find((m) => m.id === x.machineId)?.version);
    }
    expect(inflight.size).toBe(6);
  });

  it("plans nothing for a job with no pending tasks", () => {
    expect(planOne([machine()], job({ tasks: 0 }), config())).toEqual({
      placements: [],
      unplaced: 0,
      explanation: null,
    });
  });

  it("stops when capacity runs out and says why", () => {
    const machines = [machine(), machine()];
    const p = planOne(machines, job({ tasks: 10 }), config());
    expect(p.placements).toHaveLength(8);
    expect(p.unplaced).toBe(2);
    expect(explained(p)).toBe("0/2 machines fit: 2 insufficient cpu");
  });

  it("explains with each machine's first failing reason, most common first", () => {
    const machines = [
      fullMachine(),
      fullMachine(),
      fullMachine({ labels: { zone: "b" } }),
      drainingMachine(),
      machine({ taints: [{ key: "dedicated", value: "ml" }] }),
      machine({ taints: [{ key: "dedicated" }] }),
      machine({ labels: { zone: "b" } }),
    ];
    const j = job({ constraints: { affinity: [{ key: "zone", op: "NotIn", values: ["b"] }] } });
    const p = planOne(machines, j, config());
    expect(p.unplaced).toBe(1);
    expect(p.explanation).toEqual({
      machines: 7,
      feasible: 0,
      rejected: {
        "insufficient cpu": 2,
        "machine not up": 1,
        "taint not tolerated": 2,
        "affinity mismatch": 2,
      },
    });
    expect(explained(p)).toBe(
      "0/7 machines fit: 2 affinity mismatch, 2 insufficient cpu, 2 taint not tolerated, 1 machine not up",
    );
  });

  it("never places on draining, down or full machines", () => {
    const free = machine();
    const machines = [drainingMachine(), machine({ state: "down" }), fullMachine(), free];
    for (let seed = 1; seed <= 10; seed++) {
      const p = planOne(machines, job({ tasks: 3 }), config(), seed);
      expect(p.placements.map((x) => x.machineId)).toEqual([free.id, free.id, free.id]);
    }
  });

  it("honours maxPerMachine, counting tasks that already hold claims", () => {
    const [capped, m2, m3] = [machine(), machine(), machine()];
    const j = job({ tasks: 5, constraints: { maxPerMachine: 2 }, placedPerMachine: { [capped.id]: 2 } });
    const p = planOne([capped, m2, m3], j, config());
    const perMachine = countBy(machinesUsed(p));
    expect(perMachine.get(capped.id)).toBeUndefined();
    expect([perMachine.get(m2.id), perMachine.get(m3.id)]).toEqual([2, 2]);
    expect(p.unplaced).toBe(1);
    expect(explained(p)).toBe("0/3 machines fit: 3 max per machine reached");
  });

  it("runs only the filters a profile names, but always machineState, capacity and machineTasks", () => {
    const up = machine({ labels: { zone: "b" } });
    const j = job({ tasks: 5, constraints: { selector: { zone: "a" } } });
    const p = planOne([drainingMachine({ labels: { zone: "a" } }), up], j, config({ filters: [] }));
    expect(new Set(machinesUsed(p))).toEqual(new Set([up.id]));
    expect(p.placements).toHaveLength(4);
    expect(explained(p)).toBe("0/2 machines fit: 1 insufficient cpu, 1 machine not up");
    expect(STAGES.filter((s) => s.alwaysOn).map((s) => s.name)).toEqual([
      "machineState",
      "capacity",
      "machineTasks",
    ]);
  });

  describe("gangs", () => {
    it("places none when fewer than gangMin fit, and rolls the overlay back", () => {
      const machines = [machine(), machine({ capacity: { cpu: 1000 } })];
      const inflight = new InFlight();
      const p = planJob(machines, job({ tasks: 6, gangMin: 6 }), config(), inflight, mulberry32(1));
      expect(p.placements).toEqual([]);
      expect(p.unplaced).toBe(6);
      expect(explained(p)).toBe("0/2 machines fit: 2 insufficient cpu");
      expect(inflight.size).toBe(0);
      expect(machines.map((m) => inflight.used(m.id).cpu)).toEqual([0, 0]);
    });

    it("places what fits once gangMin is reached", () => {
      const p = planOne([machine()], job({ tasks: 6, gangMin: 3 }), config());
      expect(p.placements).toHaveLength(4);
      expect(p.unplaced).toBe(2);
    });

    it("counts tasks already placed towards gangMin", () => {
      const m = machine();
      const j = job({ tasks: 3, gangMin: 5, placedPerMachine: { 999: 2 } });
      expect(planOne([m], j, config()).placements).toHaveLength(3);
      const k = job({ tasks: 5, gangMin: 5, placedPerMachine: { 999: 0 } });
      expect(planOne([m], k, config()).placements).toEqual([]);
    });

    it("leaves placements of earlier jobs in the overlay alone", () => {
      const m = machine();
      const { plans, inflight } = plan([m], [job({ tasks: 2 }), job({ tasks: 3, gangMin: 3 })], config());
      expect(plans.map((p) => p.placements.length)).toEqual([2, 0]);
      expect(inflight.used(m.id).cpu).toBe(2000);
    });
  });

  describe("sampling", () => {
    // One half-full machine among nine empty ones: bin packing wants the half-full one.
    const halfFull = machine({ used: { cpu: 2000, memory: 4096 } });
    const machines = [halfFull, ...Array.from({ length: 9 }, () => machine())];
    const packing = (sampleSize: number) =>
      config({ scorers: [{ name: "mostAllocated", weight: 1 }], sampleSize });

    it("with a sample as large as the cell, always picks the best machine", () => {
      for (let seed = 1; seed <= 20; seed++) {
        const p = planOne(machines, job(), packing(10), seed);
        expect(p.placements[0]?.machineId).toBe(halfFull.id);
      }
    });

    it("with a sample of one, takes the first feasible machine of the shuffle", () => {
      const chosen = new Set<number>();
      for (let seed = 1; seed <= 30; seed++) {
        chosen.add(must(planOne(machines, job(), packing(1), seed).placements[0]).machineId);
      }
      expect(chosen.size).toBeGreaterThan(3);
    });

    it("under a packing scorer, fills the previous task's machine before opening another", () => {
      // 40 empty machines that take 4 tasks each: 12 tasks fill 3 of them, whatever the sample.
      const cell = Array.from({ length: 40 }, () => machine());
      for (let seed = 1; seed <= 10; seed++) {
        const used = new Set(machinesUsed(planOne(cell, job({ tasks: 12 }), packing(2), seed)));
        expect(used.size).toBe(3);
      }
    });

    it("does not fill a GPU machine with a job that asks for no GPU, but packs a GPU job", () => {
      const gpus = Array.from({ length: 40 }, () => machine({ capacity: { gpu: 4 } }));
      for (let seed = 1; seed <= 10; seed++) {
        const cpuOnly = new Set(machinesUsed(planOne(gpus, job({ tasks: 12 }), packing(2), seed)));
        expect(cpuOnly.size).toBeGreaterThan(6);
        const gpuJob = job({ tasks: 12, request: { gpu: 1 } });
        expect(new Set(machinesUsed(planOne(gpus, gpuJob, packing(2), seed))).size).toBe(3);
      }
    });

    it("under a spreading scorer, still spreads a job's tasks", () => {
      const cell = Array.from({ length: 40 }, () => machine());
      const p = planOne(cell, job({ tasks: 12 }), config({ sampleSize: 4 }));
      expect(Math.max(...countBy(machinesUsed(p)).values())).toBe(1);
    });

    it("comes back to a machine a topology spread refused once the job's other tasks evened it", () => {
      // One machine per zone, maxSkew 1: a, b, a, b. The second task cannot go to zone a, the
      // fourth can again. Dropped at the second task, zone a was lost for the rest of the job,
      // which then parked with "1/2 machines fit" and was never woken (the kill test, once in ~15).
      const zones = [machine({ labels: { zone: "a" } }), machine({ labels: { zone: "b" } })];
      const spread: JobVocabulary = {
        ports: [],
        portMachines: new Set(),
        topologySpread: [{ topologyKey: "zone", maxSkew: 1 }],
        forbidden: [],
        required: [],
      };
      for (let seed = 1; seed <= 10; seed++) {
        const p = planOne(zones, job({ tasks: 4, vocabulary: spread }), packing(2), seed);
        expect(p.unplaced).toBe(0);
        expect([...countBy(machinesUsed(p)).values()]).toEqual([2, 2]);
      }
    });

    it("sampleFraction raises the sample with the number of candidates", () => {
      for (let seed = 1; seed <= 20; seed++) {
        const p = planOne(machines, job(), { ...packing(1), sampleFraction: 1 }, seed);
        expect(p.placements[0]?.machineId).toBe(halfFull.id);
      }
    });
  });

  describe("spread (service)", () => {
    const zoneCounts = (machines: MachineView[], p: JobPlan) =>
      countBy(p.placements.map((x) => machines.find((m) => m.id === x.machineId)?.labels.zone));

    it.each([1, 2, 3, 4, 5])("spreads a job evenly over zones (seed %d)", (seed) => {
      const machines = zonedMachines(["a", "b", "c"], 5);
      const p = planOne(machines, job({ tasks: 9 }), serviceProfile, seed);
      expect(zoneCounts(machines, p)).toEqual(
        new Map([
          ["a", 3],
          ["b", 3],
          ["c", 3],
        ]),
      );
    });

    it.each([1, 2, 3])("keeps zones within one task of each other when it samples (seed %d)", (seed) => {
      const machines = zonedMachines(["a", "b", "c", "d"], 100);
      const p = planOne(machines, job({ tasks: 60 }), serviceProfile, seed);
      const counts = [...zoneCounts(machines, p).values()];
      expect(counts).toHaveLength(4);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    });

    it("counts tasks already placed in a zone", () => {
      const machines = zonedMachines(["a", "b"], 4);
      const j = job({ tasks: 4, placedPerMachine: { [must(machines[0]).id]: 2 } });
      const p = planOne(machines, j, serviceProfile);
      expect(zoneCounts(machines, p)).toEqual(
        new Map([
          ["b", 3],
          ["a", 1],
        ]),
      );
    });

    it("spreads over the job's own label when it names one", () => {
      const machines = ["r1", "r2"].flatMap((rack) =>
        Array.from({ length: 4 }, () => machine({ labels: { zone: "a", rack } })),
      );
      const p = planOne(machines, job({ tasks: 6, constraints: { spreadBy: "rack" } }), serviceProfile);
      const racks = countBy(p.placements.map((x) => machines.find((m) => m.id === x.machineId)?.labels.rack));
      expect([racks.get("r1"), racks.get("r2")]).toEqual([3, 3]);
    });
  });
});

// Random cells and jobs: whatever the inputs, a plan must be safe, complete and replayable.
const resources = (max: number) =>
  fc.record({
    cpu: fc.integer({ min: 0, max }),
    memory: fc.integer({ min: 0, max }),
    gpu: fc.integer({ min: 0, max: 2 }),
    disk: fc.integer({ min: 0, max: 2 }),
  });

const arbMachine = fc
  .record({
    capacity: resources(8),
    fill: fc.double({ min: 0, max: 1, noNaN: true }),
    state: fc.constantFrom("up", "up", "up", "draining", "down"),
    zone: fc.option(fc.constantFrom("a", "b", "c"), { nil: undefined }),
    rack: fc.constantFrom("r1", "r2"),
    taint: fc.option(fc.constantFrom("x", "y"), { nil: undefined }),
  })
  .map(({ capacity, fill, state, zone, rack, taint }) => {
    const used = Object.fromEntries(DIMENSIONS.map((d) => [d, Math.floor(capacity[d] * fill)])) as Resources;
    return machine({
      state,
      capacity,
      used,
      labels: zone ? { zone, rack } : { rack },
      taints: taint ? [{ key: "dedicated", value: taint }] : [],
    });
  });

const arbJob = fc
  .record({
    request: resources(3),
    tasks: fc.integer({ min: 0, max: 25 }),
    zones: fc.option(fc.subarray(["a", "b", "c"]), { nil: undefined }),
    rack: fc.option(fc.constantFrom("r1", "r2"), { nil: undefined }),
    tolerate: fc.option(fc.constantFrom("x", "y"), { nil: undefined }),
    maxPerMachine: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    gangMin: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
    spreadBy: fc.option(fc.constant("zone"), { nil: null }),
  })
  .map((r) =>
    job({
      request: r.request,
      tasks: r.tasks,
      gangMin: r.gangMin,
      constraints: {
        selector: r.rack ? { rack: r.rack } : {},
        affinity: r.zones ? [{ key: "zone", op: "In", values: r.zones }] : [],
        tolerations: r.tolerate ? [{ key: "dedicated", value: r.tolerate }] : [],
        maxPerMachine: r.maxPerMachine,
        spreadBy: r.spreadBy,
      },
    }),
  );

const arbConfig = fc.oneof(
  fc.constant<PipelineConfig>(batchProfile),
  fc.constant<PipelineConfig>(serviceProfile),
  fc.integer({ min: 1, max: 50 }).map((sampleSize) => config({ sampleSize })),
);

describe("planJob on random cells", () => {
  it("never double-books, places only where every filter passes, and replays from its seed", () => {
    fc.assert(
      fc.property(
        fc.array(arbMachine, { minLength: 0, maxLength: 30 }),
        fc.array(arbJob, { minLength: 1, maxLength: 4 }),
        arbConfig,
        fc.integer(),
        (machines, jobs, cfg, seed) => {
          const { plans, inflight } = plan(machines, jobs, cfg, seed);
          checkPlans(machines, jobs, plans, inflight);
          expect(plan(machines, jobs, cfg, seed).plans).toEqual(plans);
        },
      ),
      { numRuns: 300 },
    );
  });
});

function checkPlans(machines: MachineView[], jobs: JobView[], plans: JobPlan[], inflight: InFlight): void {
  const byId = new Map(machines.map((m) => [m.id, m]));
  const added = new Map<number, Resources>();
  jobs.forEach((j, i) => {
    const p = must(plans[i]);
    expect(p.placements.length + p.unplaced).toBe(j.pendingTaskIds.length);
    expect(p.placements.map((x) => x.taskId)).toEqual(j.pendingTaskIds.slice(0, p.placements.length));
    if (j.gangMin !== null && p.placements.length > 0)
      expect(p.placements.length).toBeGreaterThanOrEqual(j.gangMin);
    for (const [machineId, n] of countBy(p.placements.map((x) => x.machineId))) {
      const m = must(byId.get(machineId));
      expect(satisfiesConstraints(m, j)).toBe(true);
      if (j.constraints.maxPerMachine !== null) expect(n).toBeLessThanOrEqual(j.constraints.maxPerMachine);
      const sum = added.get(machineId) ?? { cpu: 0, memory: 0, gpu: 0, disk: 0 };
      for (const d of DIMENSIONS) sum[d] += n * j.request[d];
      added.set(machineId, sum);
    }
    // A job that stopped short (not a gang rolled back) stopped because no machine fits at all.
    if (p.unplaced > 0 && (j.gangMin === null || p.placements.length > 0))
      expect(p.explanation?.feasible).toBe(0);
    if (p.unplaced > 0) expect(p.explanation).not.toBeNull();
  });
  for (const [machineId, sum] of added) {
    const m = must(byId.get(machineId));
    for (const d of DIMENSIONS) expect(m.used[d] + sum[d]).toBeLessThanOrEqual(m.capacity[d]);
    expect(inflight.used(machineId)).toEqual(sum);
  }
  expect(inflight.size).toBe(plans.reduce((n, p) => n + p.placements.length, 0));
}

/** An oracle written apart from the filters (for the shapes the generators make), so a filter bug shows. */
function satisfiesConstraints(m: MachineView, j: JobView): boolean {
  const { selector, affinity, tolerations } = j.constraints;
  return (
    m.state === "up" &&
    Object.entries(selector).every(([k, v]) => m.labels[k] === v) &&
    affinity.every((t) => (t.values ?? []).some((v) => m.labels[t.key] === v)) &&
    m.taints.every((t) =>
      tolerations.some(
        (o) => o.key === t.key && (o.operator === "Exists" || (o.value ?? "") === (t.value ?? "")),
      ),
    )
  );
}
