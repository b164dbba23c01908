/**
 * A profile's extender over real HTTP (a server on a free port in this process): it narrows and
 * scores the machines; slow, down or answering garbage, scheduling goes on as its failure policy
 * says — without it when `ignorable`, not this round otherwise.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { batchProfile } from "../../src/placement/profiles.ts";
import { extend } from "../../src/scheduler/extender.ts";
import { job, machine } from "./placement-factories.ts";

type Mode = "keep-b" | "slow" | "garbage" | "not-json" | "error";
let mode: Mode = "keep-b";
let seen: { machines: { name: string }[] } | null = null;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      seen = JSON.parse(body);
      const answer = (status: number, text: string) => {
        res.writeHead(status, { "content-type": "application/json" }).end(text);
      };
      if (mode === "keep-b") answer(200, JSON.stringify({ machines: ["b", "c"], scores: { c: 100, b: 10 } }));
      else if (mode === "slow") setTimeout(() => answer(200, "{}"), 1_000);
      else if (mode === "garbage") answer(200, JSON.stringify({ machines: 5 }));
      else if (mode === "not-json") answer(200, "hello");
      else answer(500, "{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/extend`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const machines = [
  machine({ id: 1, name: "a" }),
  machine({ id: 2, name: "b" }),
  machine({ id: 3, name: "c" }),
  machine({ id: 4, name: "d", state: "draining" }),
];
const profile = (ignorable: boolean, timeoutMs = 200) => ({
  ...batchProfile,
  extender: { url, timeoutMs, ignorable, weight: 2 },
});

it("is called with the machines that pass the static filters, and narrows and scores them", async () => {
  mode = "keep-b";
  const out = await extend(profile(false, 10_000), job({ id: 7 }), machines);
  expect(seen?.machines.map((m) => m.name)).toEqual(["a", "b", "c"]);
  expect(out.unavailable).toBeUndefined();
  expect(out.machines.map((m) => m.name)).toEqual(["b", "c"]);
  expect(out.job.extenderScores?.weight).toBe(2);
  expect([...(out.job.extenderScores?.scores ?? [])]).toEqual([
    [2, 10],
    [3, 100],
  ]);
});

it("a profile without an extender plans as before", async () => {
  const j = job();
  const out = await extend(batchProfile, j, machines);
  expect(out).toEqual({ machines, job: j });
});

describe.each<[string, Mode | "down"]>([
  ["slow", "slow"],
  ["down", "down"],
  ["answering garbage", "garbage"],
  ["answering what is not JSON", "not-json"],
  ["failing", "error"],
])("an extender %s", (_what, failure) => {
  const target = () => (failure === "down" ? "http://127.0.0.1:9/extend" : url);
  it("ignorable: the job is planned without it", async () => {
    if (failure !== "down") mode = failure;
    const p = { ...profile(true), extender: { ...profile(true).extender, url: target() } };
    const out = await extend(p, job(), machines);
    expect(out.unavailable).toBeUndefined();
    expect(out.machines).toBe(machines);
    expect(out.job.extenderScores).toBeUndefined();
  });
  it("not ignorable: the job waits this round, saying why", async () => {
    if (failure !== "down") mode = failure;
    const p = { ...profile(false), extender: { ...profile(false).extender, url: target() } };
    const out = await extend(p, job(), machines);
    expect(out.unavailable?.rejected).toEqual({ "extender unavailable": 4 });
  });
});
