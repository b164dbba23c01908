import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { CellLoops } from "../../src/queue/cell-loops.ts";

/** Evaluations that end when told to. */
function gatedEvaluations() {
  const gates: (() => void)[] = [];
  let runs = 0;
  return {
    evaluate: () =>
      new Promise<void>((resolve) => {
        runs++;
        gates.push(resolve);
      }),
    endOne: async () => {
      gates.shift()?.();
      // Let the loop go round (its next evaluation starts, or it ends).
      await new Promise((r) => setImmediate(r));
    },
    get runs() {
      return runs;
    },
  };
}

// The loops' clock (their timers and performance.now()) is faked: these tests are about intervals,
// and a loaded machine (the rest of the suite running beside them) stretches real sleeps past them.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});
const sleep = (ms: number) => vi.advanceTimersByTimeAsync(ms);

it("runs at most `concurrency` evaluations, and one more for wake-ups that found them busy", async () => {
  const e = gatedEvaluations();
  const loops = new CellLoops(2, e.evaluate, () => {});
  for (let i = 0; i < 4; i++) loops.wake();
  expect(e.runs).toBe(2);
  await e.endOne();
  // The busy wake-ups cost one evaluation, not one each.
  expect(e.runs).toBe(3);
  await e.endOne();
  await e.endOne();
  expect(e.runs).toBe(3);
  await loops.stop();
});

it("says a wake-up is stalled when no busy evaluation ends in time, once, and not when one does", async () => {
  const e = gatedEvaluations();
  let stalls = 0;
  const loops = new CellLoops(1, e.evaluate, () => {}, { afterMs: 30, onStall: () => stalls++ });
  loops.wake();
  loops.wake();
  loops.wake();
  await sleep(60);
  expect(stalls).toBe(1);
  // The slot ends: the dirty loop runs again at once; a wake-up that finds it busy, and sees it end
  // in time, is no stall.
  await e.endOne();
  loops.wake();
  await sleep(10);
  await e.endOne();
  await sleep(40);
  expect(stalls).toBe(1);
  await e.endOne();
  await loops.stop();
});

it("starts evaluations at least minIntervalMs apart, serving the wake-ups meanwhile with one", async () => {
  const starts: number[] = [];
  const loops = new CellLoops(
    1,
    async () => void starts.push(performance.now()),
    () => {},
    undefined,
    50,
  );
  loops.wake();
  // Idle: at once.
  expect(starts).toHaveLength(1);
  await sleep(5);
  for (let i = 0; i < 5; i++) loops.wake();
  await sleep(20);
  // The next waits for its turn, however many wake-ups came meanwhile...
  expect(starts).toHaveLength(1);
  await sleep(60);
  // ...and then serves them all at once.
  expect(starts).toHaveLength(2);
  expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(49);
  await loops.stop();
});

it("is no stall to wait for a turn", async () => {
  let stalls = 0;
  const loops = new CellLoops(
    1,
    async () => {},
    () => {},
    { afterMs: 10, onStall: () => stalls++ },
    40,
  );
  loops.wake();
  await sleep(1);
  loops.wake();
  await sleep(2);
  loops.wake();
  await sleep(60);
  expect(stalls).toBe(0);
  await loops.stop();
});

it("stops while waiting for a turn without evaluating again", async () => {
  let runs = 0;
  const loops = new CellLoops(
    1,
    async () => void runs++,
    () => {},
    undefined,
    40,
  );
  loops.wake();
  await sleep(1);
  loops.wake();
  const stopped = loops.stop();
  await sleep(60);
  await stopped;
  expect(runs).toBe(1);
});
