import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listenForWakeUps, type WakeListener } from "../../src/queue/wake-listener.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

// The workers of one scheduler elect the one that answers every wake-up (0280); the others hear
// only the wake-ups sent to every worker, and take the lead when its holder goes.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

interface Worker {
  listener: WakeListener;
  woken: string[];
  listening: number;
}

function startWorker(scheduler = "batch", backlogs: ReadonlySet<string> = new Set()): Worker {
  const woken: string[] = [];
  const worker: Worker = {
    woken,
    listening: 0,
    listener: listenForWakeUps({
      pool: db.pool,
      scheduler,
      logger: pino({ level: "silent" }),
      onWake: (cell) => woken.push(cell),
      onListening: () => worker.listening++,
      alsoAnswers: (cell) => backlogs.has(cell),
    }),
  };
  return worker;
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const notify = (payload: string) => db.pool.query("select pg_notify('omega_wake', $1)", [payload]);

it("one worker answers a submission's wake-up, every worker one sent to all, and the lead passes on", async () => {
  const a = startWorker();
  await until(() => a.listening === 1);
  const b = startWorker();
  const other = startWorker("service");
  await until(() => b.listening === 1 && other.listening === 1);
  expect(a.listener.leading).toBe(true);
  expect(b.listener.leading).toBe(false);
  // Another scheduler's workers elect their own leader.
  expect(other.listener.leading).toBe(true);

  await notify("east batch");
  await notify("west batch *");
  await until(() => a.woken.length === 2 && b.woken.length === 1);
  expect(a.woken).toEqual(["east", "west"]);
  expect(b.woken).toEqual(["west"]);
  expect(other.woken).toEqual([]);

  // The leader goes: the other takes the lead within a second or so, and looks for missed work.
  await a.listener.stop();
  await until(() => b.listener.leading);
  expect(b.listening).toBe(2);
  await notify("east batch");
  await until(() => b.woken.length === 2);
  expect(b.woken).toEqual(["west", "east"]);

  await b.listener.stop();
  await other.listener.stop();
});

it("the SQL wake-ups: omega.wake for the leader, omega.wake_every_worker for all", async () => {
  const a = startWorker();
  await until(() => a.listening === 1);
  const b = startWorker();
  await until(() => b.listening === 1);
  await db.pool.query("select omega.wake('east', 'batch')");
  await db.pool.query("select omega.wake_every_worker('east', 'batch')");
  await until(() => a.woken.length === 2 && b.woken.length === 1);
  expect(b.woken).toEqual(["east"]);
  await a.listener.stop();
  await b.listener.stop();
});

it("a worker that does not lead answers every wake-up of a cell whose backlog it shares", async () => {
  const a = startWorker();
  await until(() => a.listening === 1);
  const backlogs = new Set<string>(["west"]);
  const b = startWorker("batch", backlogs);
  await until(() => b.listening === 1);
  await notify("east batch");
  await notify("west batch");
  await until(() => a.woken.length === 2 && b.woken.length === 1);
  expect(b.woken).toEqual(["west"]);
  backlogs.clear();
  await notify("west batch");
  await until(() => a.woken.length === 3);
  await notify("east batch *");
  await until(() => b.woken.length === 2);
  expect(b.woken).toEqual(["west", "east"]);
  await a.listener.stop();
  await b.listener.stop();
});
