import type { Runner } from "graphile-worker";
import { pino } from "pino";
import { expect, it } from "vitest";
import { superviseRunner } from "../../src/queue/supervised-runner.ts";

const quiet = pino({ level: "silent" });
const fast = { firstMs: 10, maxMs: 40 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stand-in for a graphile-worker runner: its promise settles when the test says. */
function fakeRunner() {
  let settle: (error?: Error) => void = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const runner = { promise, stop: async () => settle(), addJob: async () => ({}) } as unknown as Runner;
  return { runner, die: (error: Error) => settle(error) };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(5);
}

it("starts the runner again when it dies, and stops for good when asked", async () => {
  const started: ReturnType<typeof fakeRunner>[] = [];
  const supervisor = await superviseRunner(
    async () => {
      const fake = fakeRunner();
      started.push(fake);
      return fake.runner;
    },
    quiet,
    fast,
  );
  expect(started).toHaveLength(1);
  started[0]?.die(new Error("the database went away"));
  await until(() => started.length === 2);
  await supervisor.stop();
  await sleep(200);
  expect(started).toHaveLength(2);
});

it("keeps trying while the runner cannot start, and a stop ends the retries", async () => {
  let attempts = 0;
  const first = fakeRunner();
  const supervisor = await superviseRunner(
    async () => {
      attempts++;
      if (attempts === 1) return first.runner;
      throw new Error("connect ECONNREFUSED");
    },
    quiet,
    fast,
  );
  first.die(new Error("gone"));
  await until(() => attempts >= 4);
  await supervisor.stop();
  const stoppedAt = attempts;
  await sleep(200);
  expect(attempts).toBe(stoppedAt);
});
