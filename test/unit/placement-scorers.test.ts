import { describe, expect, it } from "vitest";
import { InFlight } from "../../src/placement/inflight.ts";
import {
  balancedAllocation,
  balancedScore,
  utilisation,
} from "../../src/placement/scorers/balanced-allocation.ts";
import { leastAllocated, leastAllocatedScore } from "../../src/placement/scorers/least-allocated.ts";
import { mostAllocated, mostAllocatedScore } from "../../src/placement/scorers/most-allocated.ts";
import { spread, spreadScore } from "../../src/placement/scorers/spread.ts";
import { SpreadTally } from "../../src/placement/scorers/spread-tally.ts";
import type { ScoreContext } from "../../src/placement/types.ts";
import { job, machine, must, other } from "./placement-factories.ts";

const none = new InFlight();
const noContext: ScoreContext = { spread: null };

describe("leastAllocatedScore and mostAllocatedScore", () => {
  it.each([
    [0, 100, 100, 0],
    [25, 100, 75, 25],
    [100, 100, 0, 100],
    [150, 100, 0, 100],
    [0, 0, 0, 0],
    [5, 0, 0, 0],
  ])("requested %d of %d → least %d, most %d", (requested, cap, least, most) => {
    expect(leastAllocatedScore(requested, cap)).toBe(least);
    expect(mostAllocatedScore(requested, cap)).toBe(most);
  });
});

describe("resource scorers on a machine", () => {
  // cpu 4000, memory 8192; the job asks 1000 cpu and 2048 memory.
  const request = { cpu: 1000, memory: 2048 };
  it.each([
    // name, used, gpu/disk capacity, least, most, balanced
    ["empty machine", {}, {}, 75, 25, 100],
    ["half used", { cpu: 2000, memory: 4096 }, {}, 25, 75, 100],
    ["cpu-heavy", { cpu: 3000 }, {}, 37.5, 62.5, 62.5],
    [
      "gpu counts when the machine has gpus",
      { gpu: 1 },
      { gpu: 2 },
      (75 + 75 + 50) / 3,
      (25 + 25 + 50) / 3,
      null,
    ],
    [
      "disk counts when the machine has disk",
      {},
      { disk: 100 },
      (75 + 75 + 100) / 3,
      (25 + 25 + 0) / 3,
      null,
    ],
  ])("%s", (_name, used, extra, least, most, balanced) => {
    const m = machine({ capacity: { cpu: 4000, memory: 8192, ...extra }, used });
    const j = job({ request });
    expect(leastAllocated(m, j, none, noContext)).toBeCloseTo(least, 9);
    expect(mostAllocated(m, j, none, noContext)).toBeCloseTo(most, 9);
    if (balanced !== null) expect(balancedAllocation(m, j, none, noContext)).toBeCloseTo(balanced, 9);
  });

  it("counts what the plan already put on the machine", () => {
    const m = machine({ capacity: { cpu: 4000, memory: 8192 } });
    const plan = new InFlight();
    plan.add(other({ cpu: 2000, memory: 4096 }), m.id);
    expect(leastAllocated(m, job({ request }), plan, noContext)).toBeCloseTo(25, 9);
    expect(mostAllocated(m, job({ request }), plan, noContext)).toBeCloseTo(75, 9);
  });
});

describe("balancedScore", () => {
  it.each([
    [[], 100],
    [[0.5, 0.5], 100],
    [[1, 0], 50],
    [[0.25, 0.75], 75],
    [[0, 0, 0.75], 100 - Math.sqrt(0.125) * 100],
  ])("%o → %d", (fractions, expected) => {
    expect(balancedScore(fractions)).toBeCloseTo(expected, 9);
  });

  it.each([
    [50, 100, 0.5],
    [150, 100, 1],
    [0, 0, 1],
  ])("utilisation(%d, %d) = %d", (requested, cap, expected) => {
    expect(utilisation(requested, cap)).toBe(expected);
  });
});

describe("spread", () => {
  it.each([
    [0, 0, 0, 100],
    [3, 3, 3, 100],
    [10, 10, 11, 100],
    [11, 10, 11, (100 * 10) / 11],
    [4, 0, 4, 0],
    [2, 0, 4, 50],
  ])("spreadScore(count %d, min %d, max %d) = %d", (count, min, max, expected) => {
    expect(spreadScore(count, min, max)).toBeCloseTo(expected, 9);
  });

  it("tallies claims and plan per label value, and follows min and max as tasks are recorded", () => {
    const [a1, a2, b1, c1] = ["a", "a", "b", "c"].map((zone) => machine({ labels: { zone } }));
    const unlabelled = machine();
    const machines = [must(a1), must(a2), must(b1), must(c1), unlabelled];
    const j = job({ placedPerMachine: { [must(a1).id]: 1, [must(a2).id]: 1, [unlabelled.id]: 5 } });
    const plan = new InFlight();
    plan.add(j, must(b1).id);
    const tally = new SpreadTally("zone", machines, j, plan);
    expect([tally.countOf("a"), tally.countOf("b"), tally.countOf("c"), tally.min, tally.max]).toEqual([
      2, 1, 0, 0, 2,
    ]);
    tally.record(must(c1));
    expect([tally.min, tally.max]).toEqual([1, 2]);
    tally.record(must(c1));
    tally.record(must(b1));
    expect([tally.countOf("c"), tally.min, tally.max]).toEqual([2, 2, 2]);
    tally.record(unlabelled);
    expect([tally.min, tally.max]).toEqual([2, 2]);
  });

  it("counts every value in the snapshot, one per machine too, and ignores machines outside it", () => {
    const hosts = ["h1", "h2", "h3", "h4"].map((host) => machine({ labels: { host } }));
    const outside = machine({ labels: { host: "h9" } });
    const j = job({ placedPerMachine: { [must(hosts[0]).id]: 2, [outside.id]: 7 } });
    const tally = new SpreadTally("host", hosts, j, none);
    expect([tally.countOf("h1"), tally.countOf("h9"), tally.min, tally.max]).toEqual([2, 0, 0, 2]);
    tally.record(outside);
    for (const m of hosts.slice(1)) tally.record(m);
    expect([tally.min, tally.max]).toEqual([1, 2]);
    for (const m of hosts.slice(1)) tally.record(m);
    expect([tally.min, tally.max]).toEqual([2, 2]);
  });

  it("scores the emptiest zone highest and unlabelled machines 0", () => {
    const a = machine({ labels: { zone: "a" } });
    const b = machine({ labels: { zone: "b" } });
    const unlabelled = machine();
    const j = job({ placedPerMachine: { [a.id]: 4, [b.id]: 2 } });
    const tally = new SpreadTally("zone", [a, b, unlabelled], j, none);
    const context: ScoreContext = { spread: tally };
    expect(spread(a, j, none, context)).toBeCloseTo(50, 9);
    expect(spread(b, j, none, context)).toBe(100);
    expect(spread(unlabelled, j, none, context)).toBe(0);
    expect(spread(a, j, none, noContext)).toBe(0);
  });
});
