import { EventEmitter } from "node:events";
import type { Request, Response } from "express";
import { expect, it } from "vitest";
import { openEventStream } from "../../src/api/sse.ts";
import type { ClusterEvent } from "../../src/db/queries/event-list.ts";

/** A response whose socket never drains: every write after the first reports a full buffer. */
function stalledResponse() {
  const res = new EventEmitter() as EventEmitter & Record<string, unknown>;
  const written: string[] = [];
  let ended = false;
  Object.assign(res, {
    status: () => res,
    setHeader: () => res,
    flushHeaders: () => {},
    write: (chunk: string) => {
      written.push(chunk);
      return written.length < 2;
    },
    end: () => {
      ended = true;
    },
  });
  return { res: res as unknown as Response, written, ended: () => ended };
}

const event = (id: number) =>
  ({
    id,
    at: new Date(0),
    cell: "c",
    jobId: 1,
    taskId: null,
    taskIndex: null,
    kind: "placed",
  }) as ClusterEvent;

it("a stream whose client does not read queues a bounded backlog, then is closed rather than waited for", () => {
  const { res, written, ended } = stalledResponse();
  const stream = openEventStream(new EventEmitter() as unknown as Request, res, false);
  let closedAt = 0;
  stream.onClose(() => {
    closedAt = written.length;
  });
  for (let id = 1; id <= 5_000; id++) stream.send(event(id));
  expect(stream.closed).toBe(false);
  expect(written).toHaveLength(2); // "retry:" and the first event; the rest wait in memory
  stream.send(event(5_001));
  stream.send(event(5_002));
  expect(stream.closed).toBe(true);
  expect(ended()).toBe(true);
  expect(closedAt).toBe(2);
});

it("sends each event once, even when catch-up and the live feed both deliver it", () => {
  const res = new EventEmitter() as EventEmitter & Record<string, unknown>;
  const written: string[] = [];
  Object.assign(res, {
    status: () => res,
    setHeader: () => res,
    flushHeaders: () => {},
    write: (chunk: string) => written.push(chunk) > 0,
    end: () => {},
  });
  const stream = openEventStream(new EventEmitter() as unknown as Request, res as unknown as Response, false);
  for (const id of [1, 2, 2, 3, 1]) stream.send(event(id));
  expect(written.filter((w) => w.startsWith("id: ")).map((w) => w.split("\n")[0])).toEqual([
    "id: 1",
    "id: 2",
    "id: 3",
  ]);
  stream.end("end", { state: "cancelled" });
  expect(written.at(-1)).toBe('event: end\ndata: {"state":"cancelled"}\n\n');
});
