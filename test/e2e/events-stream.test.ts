import { request } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { waitFor } from "../support/processes.ts";
import { follow } from "../support/sse.ts";

let api: Api;
let acme: string;
let other: string;
const job = { cell: "east", tasks: 2, resources: { cpu: "1", memory: "1Gi" } };

beforeAll(async () => {
  // As a deployment runs it: the API's login role must be able to LISTEN and read events.
  api = await startApi({ as: "omega_api" });
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  await api.call("PUT", "/v1/cells/east/machines/m1", { body: { resources: { cpu: "8", memory: "32Gi" } } });
  acme = (await api.call("POST", "/v1/tenants", { body: { name: "acme" } })).body.token;
  other = (await api.call("POST", "/v1/tenants", { body: { name: "other" } })).body.token;
});
afterAll(() => api.close());

const submit = async (token: string) =>
  (await api.call("POST", "/v1/jobs", { token, body: job })).body.id as number;

it("GET /v1/events?follow=true streams new events as they commit, each tenant only its own; the admin sees all", async () => {
  const [a, o, admin] = await Promise.all([
    follow(`${api.url}/v1/events?follow=true`, acme),
    follow(`${api.url}/v1/events?follow=true`, other),
    follow(`${api.url}/v1/events?follow=true`, "test-admin-token-0123456789"),
  ]);
  const mine = await submit(acme);
  const theirs = await submit(other);
  await a.until((f) => f.data().some((e) => e.jobId === mine && e.kind === "submitted"), "acme's event");
  await o.until((f) => f.data().some((e) => e.jobId === theirs), "other's event");
  await admin.until((f) => f.data().filter((e) => e.kind === "submitted").length >= 2, "both, for the admin");
  // The other tenant's event committed after acme's: had acme's stream been unfiltered, it would be here by now.
  await new Promise((r) => setTimeout(r, 300));
  expect(a.data().every((e) => e.tenant === "acme")).toBe(true);
  expect(o.data().every((e) => e.tenant === "other")).toBe(true);
  expect(a.events[0]?.id).toMatch(/^\d+$/);
  // Without follow: a JSON page, filtered the same way.
  const page = await api.call("GET", "/v1/events?after=0", { token: other });
  expect(page.body.events.map((e: { jobId: number }) => e.jobId)).toEqual([theirs]);
  for (const f of [a, o, admin]) f.close();
});

it("a job's stream sends its history, then live events, and ends with `end` when the job is cancelled; Last-Event-ID resumes", async () => {
  const id = await submit(acme);
  const first = await follow(`${api.url}/v1/jobs/${id}/events?follow=true`, acme);
  await first.until((f) => f.data().length >= 1, "the submitted event");
  const last = first.events.at(-1)?.id as string;
  first.close();

  // While nobody watches: the job is cancelled.
  await api.call("DELETE", `/v1/jobs/${id}`, { token: acme });
  const resumed = await follow(`${api.url}/v1/jobs/${id}/events?follow=true`, acme, {
    "last-event-id": last,
  });
  await resumed.done;
  const kinds = resumed.events.map((e) =>
    e.event === "end" ? `end:${JSON.parse(e.data).state}` : JSON.parse(e.data).kind,
  );
  expect(kinds).toEqual(["cancelled", "end:cancelled"]);
  expect(Number(resumed.events[0]?.id)).toBeGreaterThan(Number(last));

  // Another tenant's job is not found, streamed or not.
  expect(
    (
      await fetch(`${api.url}/v1/jobs/${id}/events?follow=true`, {
        headers: { authorization: `Bearer ${other}` },
      })
    ).status,
  ).toBe(404);
});

it("a client that stops reading does not hold up the others", async () => {
  // A raw connection that never reads a byte of what it is sent.
  const stalled = request(`${api.url}/v1/events?follow=true`, {
    headers: { authorization: `Bearer ${acme}` },
  });
  stalled.on("response", (res) => res.pause());
  stalled.on("error", () => {});
  stalled.end();
  const live = await follow(`${api.url}/v1/events?follow=true`, acme);
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  const ids: number[] = [];
  for (let i = 0; i < 60; i++) ids.push(await submit(acme));
  await live.until(
    (f) => ids.every((id) => f.data().some((e) => e.jobId === id)),
    "every event at the live client",
    15_000,
  );
  expect(Date.now() - started).toBeLessThan(15_000);
  live.close();
  stalled.destroy();
});

it("a stream whose feed loses its database connection is closed, and resuming with Last-Event-ID misses nothing", async () => {
  const before = await submit(acme);
  const stream = await follow(`${api.url}/v1/jobs/${before}/events?follow=true`, acme);
  await stream.until((f) => f.data().length >= 1, "the first event");
  const last = stream.events.at(-1)?.id as string;
  // The API's LISTEN connection dies (a database restart, a failover): its streams end.
  await api.db.pool.query(
    "select pg_terminate_backend(pid) from pg_stat_activity where query = 'listen omega_events' and datname = current_database()",
  );
  await stream.done;
  await api.call("DELETE", `/v1/jobs/${before}`, { token: acme });
  const resumed = await follow(`${api.url}/v1/jobs/${before}/events?follow=true`, acme, {
    "last-event-id": last,
  });
  await resumed.done;
  expect(resumed.data().map((e) => e.kind)).toEqual(["cancelled"]);

  // The feed listens again: new events stream live once more.
  await waitFor(
    async () =>
      (
        await api.db.pool.query(
          "select from pg_stat_activity where query = 'listen omega_events' and datname = current_database()",
        )
      ).rowCount === 1,
    10_000,
    "the feed to listen again",
  );
  const live = await follow(`${api.url}/v1/events?follow=true`, acme);
  const after = await submit(acme);
  await live.until(
    (f) => f.data().some((e) => e.jobId === after),
    "a live event after the reconnect",
    15_000,
  );
  live.close();
});

it("without a cursor, GET /v1/events is the latest page, oldest first", async () => {
  const page = await api.call("GET", "/v1/events?limit=3", { token: acme });
  const all = await api.call("GET", "/v1/events?after=0&limit=1000", { token: acme });
  const ids = all.body.events.map((e: { id: number }) => e.id);
  expect(page.body.events.map((e: { id: number }) => e.id)).toEqual(ids.slice(-3));
});
