import { expect, it } from "vitest";
import { dueRuns, nextRun, scheduleError } from "../../src/periodic/cron.ts";

const at = (iso: string) => new Date(iso);

it("accepts five fields (and six with seconds) and refuses the rest with a reason", () => {
  expect(scheduleError("*/5 * * * *", "UTC")).toBeUndefined();
  expect(scheduleError("* * * * * *", "Europe/Paris")).toBeUndefined();
  expect(scheduleError("* * *", "UTC")).toMatch(/^schedule: five cron fields/);
  expect(scheduleError("61 * * * *", "UTC")).toMatch(/^schedule:/);
  expect(scheduleError("* * * * *", "Mars/Olympus")).toMatch(/^timeZone:/);
});

it("lists the scheduled times between two instants, and the next one", () => {
  const { times, next } = dueRuns(
    "*/5 * * * *",
    "UTC",
    at("2026-01-01T00:00:00Z"),
    at("2026-01-01T00:12:00Z"),
    at("2000-01-01T00:00:00Z"),
  );
  expect(times.map((t) => t.toISOString())).toEqual([
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:05:00.000Z",
    "2026-01-01T00:10:00.000Z",
  ]);
  expect(next.toISOString()).toBe("2026-01-01T00:15:00.000Z");
});

it("leaves out the times past the starting deadline (an outage is made up only within it)", () => {
  // Every second, 30 s of outage, a 5 s deadline: the 5 s before now (and now) are made up.
  const now = at("2026-01-01T00:00:30Z");
  const { times } = dueRuns(
    "* * * * * *",
    "UTC",
    at("2026-01-01T00:00:00Z"),
    now,
    new Date(now.getTime() - 5000),
  );
  expect(times.map((t) => t.getUTCSeconds())).toEqual([25, 26, 27, 28, 29, 30]);
});

it("runs a daily 02:30 job once on the day New York springs forward (02:30 does not exist)", () => {
  // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
  const { times } = dueRuns(
    "30 2 * * *",
    "America/New_York",
    at("2026-03-07T00:00:00Z"),
    at("2026-03-10T00:00:00Z"),
    at("2000-01-01T00:00:00Z"),
  );
  const days = times.map((t) => t.toISOString().slice(0, 10));
  expect(days).toEqual([...new Set(days)]);
  expect(times.map((t) => t.toISOString())).toContain("2026-03-07T07:30:00.000Z");
  expect(times.map((t) => t.toISOString())).toContain("2026-03-09T06:30:00.000Z");
  expect(times.length).toBeGreaterThanOrEqual(2);
  expect(times.length).toBeLessThanOrEqual(3);
});

it("runs a daily 01:30 job once on the day New York falls back (01:30 happens twice)", () => {
  // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST.
  const { times } = dueRuns(
    "30 1 * * *",
    "America/New_York",
    at("2026-10-31T12:00:00Z"),
    at("2026-11-02T12:00:00Z"),
    at("2000-01-01T00:00:00Z"),
  );
  expect(times.map((t) => t.toISOString())).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
});

it("keeps a wall-clock time in its zone across DST: 09:00 Paris is 08:00 UTC in winter, 07:00 in summer", () => {
  expect(nextRun("0 9 * * *", "Europe/Paris", at("2026-03-28T12:00:00Z")).toISOString()).toBe(
    "2026-03-29T07:00:00.000Z",
  );
  expect(nextRun("0 9 * * *", "Europe/Paris", at("2026-10-24T12:00:00Z")).toISOString()).toBe(
    "2026-10-25T08:00:00.000Z",
  );
});
