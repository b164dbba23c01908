import { describe, expect, it } from "vitest";
import type { Resources } from "../../src/domain/resources.ts";
import { InFlight } from "../../src/placement/inflight.ts";
import { batchProfile } from "../../src/placement/profiles.ts";
import {
  newReclaimRound,
  planReclaim,
  type ReclaimInput,
  type ReclaimVictim,
} from "../../src/placement/reclaim.ts";
import { job, machine } from "./placement-factories.ts";

const cpu = (n: number): Resources => ({ cpu: n, memory: 0, gpu: 0, disk: 0 });

function borrowed(taskId: number, tenantId: number, cpuMillis: number, priority = 150): ReclaimVictim {
  return {
    taskId,
    jobId: 1000 + taskId,
    priority,
    request: cpu(cpuMillis),
    gangMin: null,
    jobClaims: 1,
    tenantId,
  };
}

/** A lender whose quota free (after what its cohort lent out) is `free`, with `nominalFree` of its own. */
function lender(free: number, tasks = 1) {
  return job({
    priority: 150,
    tasks,
    request: { cpu: 1000, memory: 0 },
    quota: { key: "7:batch", band: "batch", free: cpu(free) },
  });
}

describe("planReclaim", () => {
  const full = () => machine({ capacity: { cpu: 4000, memory: 1 << 20 }, used: { cpu: 4000, memory: 0 } });

  it("evicts borrowed claims that give its quota back and make room, the newest first", () => {
    const m = full();
    const input: ReclaimInput = {
      nominalFree: cpu(2000),
      borrowed: new Map([[9, cpu(3000)]]),
      victimsOn: new Map([[m.id, [borrowed(1, 9, 1000), borrowed(2, 9, 1000)]]]),
    };
    const placements = planReclaim([m], lender(0, 2), [11, 12], new InFlight(), input, batchProfile);
    expect(placements).toEqual([
      { taskId: 11, machineId: m.id, machineVersion: m.version, victims: [2] },
      { taskId: 12, machineId: m.id, machineVersion: m.version, victims: [1] },
    ]);
  });

  it("never reclaims past the lender's own nominal quota, nor more than a tenant borrows", () => {
    const m = full();
    const victims = [borrowed(1, 9, 1000), borrowed(2, 9, 1000), borrowed(3, 9, 1000)];
    // Its own quota has room for one task only.
    const own: ReclaimInput = {
      nominalFree: cpu(1000),
      borrowed: new Map([[9, cpu(3000)]]),
      victimsOn: new Map([[m.id, victims]]),
    };
    expect(planReclaim([m], lender(0, 3), [11, 12, 13], new InFlight(), own, batchProfile)).toHaveLength(1);
    // Tenant 9 borrows 1 core: evicting a second claim would give nothing back.
    const little: ReclaimInput = { ...own, nominalFree: cpu(3000), borrowed: new Map([[9, cpu(1000)]]) };
    expect(planReclaim([m], lender(0, 3), [11, 12, 13], new InFlight(), little, batchProfile)).toHaveLength(
      1,
    );
  });

  it("shares what a member borrows between the jobs of one plan: the second evicts nothing for it", () => {
    const m = full();
    // Tenant 9 borrows one core, with two claims; each job reads the same from the database.
    const input = (): ReclaimInput => ({
      nominalFree: cpu(4000),
      borrowed: new Map([[9, cpu(1000)]]),
      victimsOn: new Map([[m.id, [borrowed(1, 9, 1000), borrowed(2, 9, 1000)]]]),
    });
    const round = newReclaimRound();
    const inflight = new InFlight();
    const first = planReclaim([m], lender(0), [11], inflight, input(), batchProfile, round);
    const second = planReclaim([m], { ...lender(0), id: 99 }, [12], inflight, input(), batchProfile, round);
    expect(first.map((p) => p.victims)).toEqual([[2]]);
    expect(second).toEqual([]);
    // Planned apart (as before), the second evicted as well: two claims for one core given back.
    expect(planReclaim([m], lender(0), [12], new InFlight(), input(), batchProfile)).toHaveLength(1);
  });

  it("counts what the plan's earlier reclaims gave back to the quota: each job evicts for itself only", () => {
    const m = full();
    const input = (): ReclaimInput => ({
      nominalFree: cpu(4000),
      borrowed: new Map([[9, cpu(3000)]]),
      victimsOn: new Map([[m.id, [borrowed(1, 9, 1000), borrowed(2, 9, 1000), borrowed(3, 9, 1000)]]]),
    });
    const round = newReclaimRound();
    const inflight = new InFlight();
    const first = planReclaim([m], lender(0), [11], inflight, input(), batchProfile, round);
    // The first job's task is charged to the quota and its victim paid for it: one victim each.
    const second = planReclaim([m], { ...lender(0), id: 99 }, [12], inflight, input(), batchProfile, round);
    expect([...first, ...second].map((p) => p.victims)).toEqual([[3], [2]]);
  });

  it("does nothing for a job its quota does not hold back, nor for a gang", () => {
    const m = full();
    const input: ReclaimInput = {
      nominalFree: cpu(4000),
      borrowed: new Map([[9, cpu(4000)]]),
      victimsOn: new Map([[m.id, [borrowed(1, 9, 1000)]]]),
    };
    expect(planReclaim([m], lender(4000), [11], new InFlight(), input, batchProfile)).toEqual([]);
    const gang = { ...lender(0, 2), gangMin: 2 };
    expect(planReclaim([m], gang, [11, 12], new InFlight(), input, batchProfile)).toEqual([]);
  });
});
