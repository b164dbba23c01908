import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { shortDimension } from "../../src/placement/filters/capacity.ts";
import { InFlight } from "../../src/placement/inflight.ts";
import { mayPreempt, planPreemption, type VictimView } from "../../src/placement/preemption.ts";
import { job, machine } from "./placement-factories.ts";

function victim(taskId: number, priority: number, cpu: number, extra: Partial<VictimView> = {}): VictimView {
  return {
    taskId,
    jobId: 1000 + taskId,
    priority,
    request: { cpu, memory: 0, gpu: 0, disk: 0 },
    gangMin: null,
    jobClaims: 1,
    ...extra,
  };
}

describe("mayPreempt", () => {
  it("needs strictly lower priority, and production never evicts production", () => {
    expect(mayPreempt(150, 50)).toBe(true);
    expect(mayPreempt(300, 199)).toBe(true);
    expect(mayPreempt(150, 150)).toBe(false);
    expect(mayPreempt(100, 150)).toBe(false);
    expect(mayPreempt(900, 250)).toBe(false);
  });
});

describe("planPreemption", () => {
  const full = (cpu: number) => machine({ capacity: { cpu, memory: 1 << 20 }, used: { cpu, memory: 0 } });

  it("takes the lowest priorities first and reprieves what the task can do without", () => {
    const m = full(4000);
    const j = job({ priority: 300, request: { cpu: 2000, memory: 0 } });
    const victims = [victim(1, 150, 1000), victim(2, 50, 1000), victim(3, 60, 1000), victim(4, 120, 1000)];
    const placements = planPreemption([m], [m], j, [1], 0, new InFlight(), new Map([[m.id, victims]]));
    expect(placements).toEqual([{ taskId: 1, machineId: m.id, machineVersion: m.version, victims: [2, 3] }]);
  });

  it("prefers the machine where harm is least: a lower worst priority, then fewer victims", () => {
    const a = full(4000);
    const b = full(4000);
    const j = job({ priority: 300, request: { cpu: 2000, memory: 0 } });
    const on = new Map([
      [a.id, [victim(1, 50, 1000), victim(2, 50, 1000)]],
      [b.id, [victim(3, 40, 2000), victim(4, 199, 2000)]],
    ]);
    const [p] = planPreemption([a, b], [a, b], j, [1], 0, new InFlight(), on);
    expect(p?.machineId).toBe(b.id);
    expect(p?.victims).toEqual([3]);
  });

  it("makes room under the task cap: one slot, the lowest priority, on a machine full of tiny tasks", () => {
    // Plenty of cpu, but the machine holds its cap of 3 claims (issue 17: a flood of best-effort
    // tasks must not shut higher priorities out).
    const m = machine({
      capacity: { cpu: 64_000, memory: 1 << 20 },
      used: { cpu: 30, memory: 0 },
      tasks: 3,
      maxTasks: 3,
    });
    const j = job({ priority: 300, request: { cpu: 1000, memory: 0 } });
    const on = new Map([[m.id, [victim(1, 60, 10), victim(2, 40, 10), victim(3, 50, 10)]]]);
    const [p] = planPreemption([m], [m], j, [1, 2], 0, new InFlight(), on);
    expect(p).toEqual({ taskId: 1, machineId: m.id, machineVersion: m.version, victims: [2] });
  });

  it("spares a gang's tasks at or below its minimum", () => {
    const m = full(4000);
    const j = job({ priority: 300, request: { cpu: 2000, memory: 0 } });
    const gang = (t: number) => victim(t, 50, 1000, { jobId: 7, gangMin: 3, jobClaims: 4 });
    const on = new Map([[m.id, [gang(1), gang(2), gang(3), gang(4)]]]);
    expect(planPreemption([m], [m], j, [1], 0, new InFlight(), on)).toEqual([]);
  });

  it("places a gang only if its minimum is reached, and leaves the overlay as it found it", () => {
    const m = full(2000);
    const j = job({ priority: 300, tasks: 3, gangMin: 3, request: { cpu: 1000, memory: 0 } });
    const inflight = new InFlight();
    const on = new Map([[m.id, [victim(1, 50, 1000), victim(2, 50, 1000)]]]);
    expect(planPreemption([m], [m], j, j.pendingTaskIds, 0, inflight, on)).toEqual([]);
    expect(inflight.size).toBe(0);
  });

  it("property: victims are preemptible, make room, are each needed, and are never taken twice", () => {
    const arbVictim = fc.record({
      priority: fc.integer({ min: 0, max: 999 }),
      cpu: fc.integer({ min: 1, max: 4000 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 999 }),
        fc.integer({ min: 1, max: 4000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(arbVictim, { maxLength: 12 }),
        (priority, request, tasks, specs) => {
          const used = Math.min(
            8000,
            specs.reduce((s, v) => s + v.cpu, 0),
          );
          const m = machine({ capacity: { cpu: 8000, memory: 1 << 20 }, used: { cpu: used, memory: 0 } });
          const victims = specs
            .map((v, i) => victim(i + 1, v.priority, v.cpu))
            .filter((_, i) => specs.slice(0, i + 1).reduce((s, v) => s + v.cpu, 0) <= used);
          const j = job({ priority, tasks, request: { cpu: request, memory: 0 } });
          const inflight = new InFlight();
          const placements = planPreemption(
            [m],
            [m],
            j,
            j.pendingTaskIds,
            0,
            inflight,
            new Map([[m.id, victims]]),
          );
          const byId = new Map(victims.map((v) => [v.taskId, v]));
          const taken = placements.flatMap((p) => [...(p.victims ?? [])]);
          expect(new Set(taken).size).toBe(taken.length);
          for (const id of taken) expect(mayPreempt(priority, byId.get(id)?.priority ?? 1e9)).toBe(true);
          // After every eviction and placement the machine is within capacity.
          const freed = taken.reduce((s, id) => s + (byId.get(id)?.request.cpu ?? 0), 0);
          const usedAfter = { cpu: used - freed, memory: 0, gpu: 0, disk: 0 };
          expect(usedAfter.cpu + placements.length * request).toBeLessThanOrEqual(8000);
          // Each placement's victims are all needed: without any one, its task would not have fit.
          let before = used;
          for (const p of placements) {
            const mine = (p.victims ?? []).map((id) => byId.get(id)?.request.cpu ?? 0);
            const after = before - mine.reduce((s, c) => s + c, 0);
            for (const c of mine) {
              const without = { cpu: after + c, memory: 0, gpu: 0, disk: 0 };
              expect(
                shortDimension(m.capacity, without, { cpu: 0, memory: 0, gpu: 0, disk: 0 }, j.request),
              ).not.toBeNull();
            }
            before = after + request;
          }
        },
      ),
      { seed: 4242, numRuns: 300 },
    );
  });
});
