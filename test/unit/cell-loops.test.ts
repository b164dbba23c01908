import { expect, it } from "vitest";
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
