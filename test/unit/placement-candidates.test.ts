import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CandidateRing } from "../../src/placement/candidates.ts";
import { mulberry32, seedFrom, shuffle } from "../../src/placement/random.ts";
import type { MachineView } from "../../src/placement/types.ts";
import { machine } from "./placement-factories.ts";

const cell = (n: number) => Array.from({ length: n }, (_, i) => machine({ id: i }));
const ids = (ms: MachineView[]) => ms.map((m) => m.id);
// random() = 0 draws every position in place, so the walk is in snapshot order: easy to follow.
const inOrder = () => 0;

describe("CandidateRing", () => {
  it("keeps its cursor on the same machine when it compacts away the dropped ones", () => {
    const ring = new CandidateRing(cell(10), inOrder, () => true);
    expect(ids(ring.sample(2, (m) => m.id >= 6, []))).toEqual([6, 7]); // drops 0–5: compacts
    expect(ids(ring.sample(1, () => true, []))).toEqual([8]);
  });

  it("runs the static filter on machines not yet drawn when it compacts", () => {
    const ring = new CandidateRing(cell(10), inOrder, (m) => m.id !== 9);
    expect(ids(ring.sample(2, (m) => m.id >= 6, []))).toEqual([6, 7]);
    expect(ids(ring.sample(2, () => true, []))).toEqual([8, 6]);
  });

  it("visits every machine once before coming back to one (a rotating cursor)", () => {
    const ring = new CandidateRing(cell(7), mulberry32(3), () => true);
    const walk = Array.from({ length: 14 }, () => ids(ring.sample(1, () => true, []))[0]);
    expect(new Set(walk.slice(0, 7)).size).toBe(7);
    expect(walk.slice(7)).toEqual(walk.slice(0, 7));
  });

  it("draws every order: each machine comes first for some seed", () => {
    const first = new Set<number | undefined>();
    for (let seed = 0; seed < 200; seed++) {
      first.add(new CandidateRing(cell(4), mulberry32(seed), () => true).sample(1, () => true, [])[0]?.id);
    }
    expect(first).toEqual(new Set([0, 1, 2, 3]));
  });

  it("returns only live candidates, never twice in a sample, and misses none", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ candidate: fc.boolean(), room: fc.integer({ min: 0, max: 3 }) }), {
          maxLength: 40,
        }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 30 }),
        fc.integer(),
        (specs, sizes, seed) => {
          const room = specs.map((s) => s.room);
          const ring = new CandidateRing(
            cell(specs.length),
            mulberry32(seed),
            (m) => !!specs[m.id]?.candidate,
          );
          for (const size of sizes) {
            const sample = ids(ring.sample(size, (m) => (room[m.id] ?? 0) > 0, []));
            expect(new Set(sample).size).toBe(sample.length);
            for (const id of sample) expect(specs[id]?.candidate && (room[id] ?? 0) > 0).toBe(true);
            const live = specs.filter((s, id) => s.candidate && (room[id] ?? 0) > 0).length;
            expect(sample.length).toBe(Math.min(size, live));
            const taken = sample[0];
            if (taken !== undefined) room[taken] = (room[taken] ?? 0) - 1;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("random", () => {
  it("replays the same numbers from the same seed", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
    expect(mulberry32(43)()).not.toBe(xs[0]);
  });

  it.each([
    [[1, 2], [1, 2], true],
    [[1, 23], [12, 3], false],
    [["eval", 7], ["eval", 8], false],
    [[7, 8], ["7", "8"], true],
  ] as [(string | number)[], (string | number)[], boolean][])(
    "seedFrom(%o) = seedFrom(%o): %s",
    (a, b, same) => {
      expect(seedFrom(...a) === seedFrom(...b)).toBe(same);
      expect(Number.isInteger(seedFrom(...a)) && seedFrom(...a) >= 0 && seedFrom(...a) < 2 ** 32).toBe(true);
    },
  );

  it("shuffles in place into a permutation, the same for the same seed", () => {
    const xs = shuffle([...Array(20).keys()], mulberry32(1));
    expect([...xs].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(shuffle([...Array(20).keys()], mulberry32(1))).toEqual(xs);
    expect(xs).not.toEqual([...Array(20).keys()]);
  });
});
