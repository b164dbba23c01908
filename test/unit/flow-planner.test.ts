/**
 * The flow planner: optimal against brute force on small random cells (every way to put each job's
 * tasks on the machines is costed with the same model), and the behaviour each cost is there for.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LOAD_BUCKETS, slotsFor } from "../../src/placement/flow/classes.ts";
import {
  DEFAULT_FLOW_COSTS,
  type FlowCosts,
  isLocal,
  loadCost,
  localityCost,
  machineCost,
  unscheduledCost,
  utilisation,
} from "../../src/placement/flow/costs.ts";
import { planFlow } from "../../src/placement/flow/plan-flow.ts";
import { InFlight, mulberry32 } from "../../src/placement/index.ts";
import { flowProfile } from "../../src/placement/profiles.ts";
import type { JobPlan, JobView, MachineView } from "../../src/placement/types.ts";
import { job, machine } from "./placement-factories.ts";

const noPreemption = { ...flowProfile, preemption: false };
const costs = DEFAULT_FLOW_COSTS;

function plan(machines: MachineView[], jobs: JobView[], config = noPreemption) {
  return planFlow(machines, jobs, config, new InFlight(), mulberry32(1));
}

/** counts[j][m]: tasks of job j on machine m. The model's cost of that outcome. */
function modelCost(machines: MachineView[], jobs: JobView[], counts: number[][], costs: FlowCosts): number {
  const total = jobs.reduce((n, j) => n + j.pendingTaskIds.length, 0);
  let cost = 0;
  jobs.forEach((j, ji) => {
    let placed = 0;
    machines.forEach((m, mi) => {
      const c = counts[ji]?.[mi] ?? 0;
      placed += c;
      const load =
        Math.floor(utilisation(m, { cpu: 0, memory: 0, gpu: 0, disk: 0 }) * LOAD_BUCKETS) / LOAD_BUCKETS;
      cost +=
        c *
        (localityCost(costs, isLocal(m, j.locality)) +
          machineCost(costs, load, m.capacity.gpu, j.request.gpu));
    });
    cost += (j.pendingTaskIds.length - placed) * unscheduledCost(costs, j);
  });
  machines.forEach((m, mi) => {
    const onIt = jobs.reduce((n, _, ji) => n + (counts[ji]?.[mi] ?? 0), 0);
    const levels = Math.min(total, slotsFor(m, jobs[0] as JobView, new InFlight()));
    const load =
      Math.floor(utilisation(m, { cpu: 0, memory: 0, gpu: 0, disk: 0 }) * LOAD_BUCKETS) / LOAD_BUCKETS;
    for (let k = 1; k <= onIt; k++) cost += loadCost(costs, load, k, levels);
  });
  return cost;
}

/** The least model cost over every feasible outcome (tasks of one shape: slots alone bound a machine). */
function bruteForce(machines: MachineView[], jobs: JobView[], costs: FlowCosts): number {
  const slots = machines.map((m) => slotsFor(m, jobs[0] as JobView, new InFlight()));
  const counts = jobs.map(() => machines.map(() => 0));
  let best = Number.POSITIVE_INFINITY;
  const visit = (ji: number, mi: number, left: number) => {
    if (ji === jobs.length) {
      best = Math.min(best, modelCost(machines, jobs, counts, costs));
      return;
    }
    if (mi === machines.length) {
      visit(ji + 1, 0, (jobs[ji + 1]?.pendingTaskIds.length ?? 0) as number);
      return;
    }
    const used = counts.reduce((n, row) => n + (row[mi] as number), 0);
    for (let c = 0; c <= Math.min(left, (slots[mi] as number) - used); c++) {
      (counts[ji] as number[])[mi] = c;
      visit(ji, mi + 1, left - c);
    }
    (counts[ji] as number[])[mi] = 0;
  };
  visit(0, 0, jobs[0]?.pendingTaskIds.length ?? 0);
  return best;
}

function countsOf(machines: MachineView[], jobs: JobView[], plans: Map<number, JobPlan>): number[][] {
  return jobs.map((j) =>
    machines.map((m) => (plans.get(j.id)?.placements ?? []).filter((p) => p.machineId === m.id).length),
  );
}

const cell = fc.record({
  machines: fc.array(
    fc.record({
      cpu: fc.constantFrom(2000, 3000, 4000),
      used: fc.constantFrom(0, 1000, 1500),
      rack: fc.constantFrom("r1", "r2"),
      gpu: fc.constantFrom(0, 0, 4),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  jobs: fc.array(
    fc.record({
      tasks: fc.integer({ min: 1, max: 3 }),
      priority: fc.integer({ min: 0, max: 300 }),
      wait: fc.integer({ min: 0, max: 100 }),
      locality: fc.constantFrom(null, "r1", "r2"),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});

describe("the flow planner", () => {
  it("finds the least-cost placement (brute force on small random cells)", () => {
    fc.assert(
      fc.property(cell, fc.constantFrom(0, 1), (spec, pack) => {
        let taskId = 0;
        const machines = spec.machines.map((m, i) =>
          machine({
            id: i + 1,
            capacity: { cpu: m.cpu, memory: 0, gpu: m.gpu },
            used: { cpu: m.used },
            labels: { rack: m.rack },
          }),
        );
        const jobs = spec.jobs.map((j, i) =>
          job({
            id: i + 1,
            priority: j.priority,
            waitSeconds: j.wait,
            request: { cpu: 1000, memory: 0 },
            locality: j.locality ? { label: "rack", values: [j.locality] } : null,
            pendingTaskIds: Array.from({ length: j.tasks }, () => ++taskId),
          }),
        );
        const model = { ...costs, pack };
        const { plans } = plan(machines, jobs, { ...noPreemption, flow: model });
        expect(modelCost(machines, jobs, countsOf(machines, jobs, plans), model)).toBe(
          bruteForce(machines, jobs, model),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("puts a job's tasks where its data is while there is room", () => {
    const machines = [1, 2, 3, 4].map((id) => machine({ id, labels: { rack: id <= 2 ? "r1" : "r2" } }));
    const j = job({ tasks: 6, locality: { label: "rack", values: ["r2"] } });
    const { plans } = plan(machines, [j]);
    const on = (plans.get(j.id)?.placements ?? []).map((p) => p.machineId);
    expect(on).toHaveLength(6);
    expect(on.filter((m) => m >= 3)).toHaveLength(6);
  });

  it("spreads load: four tasks on four empty machines take one each", () => {
    const machines = [1, 2, 3, 4].map((id) => machine({ id }));
    const { plans } = plan(machines, [job({ id: 77, tasks: 4 })]);
    expect(new Set(plans.get(77)?.placements.map((p) => p.machineId))).toEqual(new Set([1, 2, 3, 4]));
  });

  it("gives scarce room to the higher priority, then to the one that waited longer", () => {
    const machines = [machine({ id: 1, capacity: { cpu: 2000 } })];
    const low = job({ id: 1, priority: 100, tasks: 2, pendingTaskIds: [1, 2] });
    const high = job({ id: 2, priority: 150, tasks: 2, pendingTaskIds: [3, 4] });
    expect(plan(machines, [low, high]).plans.get(2)?.placements).toHaveLength(2);
    const fresh = job({ id: 3, priority: 100, waitSeconds: 0, tasks: 2, pendingTaskIds: [5, 6] });
    const old = job({ id: 4, priority: 100, waitSeconds: 60, tasks: 2, pendingTaskIds: [7, 8] });
    const { plans } = plan(machines, [fresh, old]);
    expect(plans.get(4)?.placements).toHaveLength(2);
    expect(plans.get(3)).toMatchObject({ placements: [], unplaced: 2, explanation: { feasible: 0 } });
  });

  it("places mixed shapes as far as they fit, and explains the rest", () => {
    const machines = [1, 2].map((id) => machine({ id, capacity: { cpu: 4000, memory: 8192 } }));
    const big = job({ id: 1, tasks: 3, request: { cpu: 3000, memory: 1024 }, pendingTaskIds: [1, 2, 3] });
    const small = job({ id: 2, tasks: 4, request: { cpu: 500, memory: 1024 }, pendingTaskIds: [4, 5, 6, 7] });
    const { plans } = plan(machines, [big, small]);
    expect(plans.get(1)).toMatchObject({ unplaced: 1 });
    expect(plans.get(1)?.placements).toHaveLength(2);
    expect(plans.get(1)?.explanation?.rejected).toMatchObject({ "insufficient cpu": 2 });
    expect(plans.get(2)).toMatchObject({ unplaced: 0, explanation: null });
    for (const m of machines) {
      const cpu = [...(plans.get(1)?.placements ?? []), ...(plans.get(2)?.placements ?? [])]
        .filter((p) => p.machineId === m.id)
        .reduce((n, p) => n + (p.taskId <= 3 ? 3000 : 500), 0);
      expect(cpu).toBeLessThanOrEqual(4000);
    }
  });

  it("keeps a gang whole or places none of it", () => {
    const machines = [1, 2].map((id) => machine({ id }));
    const gang = job({ id: 5, tasks: 10, gangMin: 10, request: { cpu: 1000 } });
    expect(plan(machines, [gang]).plans.get(5)).toMatchObject({ placements: [], unplaced: 10 });
    const fits = job({ id: 6, tasks: 8, gangMin: 8, request: { cpu: 1000 } });
    expect(plan(machines, [fits]).plans.get(6)?.placements).toHaveLength(8);
  });

  it("honours maxPerMachine and hands spreadBy jobs to the pipeline", () => {
    const machines = [1, 2, 3].map((id) => machine({ id, labels: { zone: `z${id}` } }));
    const capped = job({ id: 8, tasks: 3, constraints: { maxPerMachine: 1 } });
    const spread = job({ id: 9, tasks: 3, constraints: { spreadBy: "zone" }, pendingTaskIds: [11, 12, 13] });
    const { plans } = plan(machines, [capped, spread]);
    expect(new Set(plans.get(8)?.placements.map((p) => p.machineId)).size).toBe(3);
    expect(new Set(plans.get(9)?.placements.map((p) => p.machineId)).size).toBe(3);
  });

  it("routes what fits nowhere to preemption only when waiting costs more", () => {
    const machines = [fullMachine()];
    const urgent = job({ id: 10, priority: 250, pendingTaskIds: [1] });
    const patient = job({ id: 11, priority: 50, pendingTaskIds: [2] });
    const { plans } = plan(machines, [urgent, patient], flowProfile);
    expect(plans.get(10)).toMatchObject({ unplaced: 1, preempt: true });
    expect(plans.get(11)).toMatchObject({ unplaced: 1, preempt: false });
  });
});

function fullMachine(): MachineView {
  const m = machine({ id: 99 });
  return { ...m, used: { ...m.capacity } };
}
