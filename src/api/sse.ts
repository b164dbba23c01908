/**
 * One server-sent event stream (text/event-stream): events written as `id:` + `data:` (JSON), so
 * that a client reconnecting sends Last-Event-ID and resumes where it was. A client that does not
 * read (a stalled network, a paused tab) is never waited for: what it cannot take is queued up to
 * MAX_QUEUED events, and past that its stream is ended — it reconnects and catches up from the
 * database. Other clients are served from the feed meanwhile, never blocked by it.
 */
import type { Request, Response } from "express";
import type { ClusterEvent } from "../db/queries/event-list.ts";

const MAX_QUEUED = 5_000;
const KEEPALIVE_MS = 15_000;

/** An event as clients see it (tenant ids and job submission times are internal). */
/** An event as the API shows it; a tenant reads tenant-neutral reasons. */
export function eventView(e: ClusterEvent, asTenant: boolean) {
  return {
    id: e.id,
    at: e.at,
    cell: e.cell,
    jobId: e.jobId,
    taskId: e.taskId,
    taskIndex: e.taskIndex,
    kind: e.kind,
    machine: e.machine,
    reason: asTenant ? e.tenantReason : e.reason,
    tenant: e.tenant,
  };
}

export interface EventStream {
  /** Sends an event unless this stream sent it already (catch-up and live may overlap). */
  send(event: ClusterEvent): void;
  /** Sends a named event without an id (`end`), then closes. */
  end(name: string, data: unknown): void;
  /** Closes without a final event: the client reconnects and resumes (Last-Event-ID). */
  close(): void;
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

export function openEventStream(req: Request, res: Response, asTenant: boolean): EventStream {
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  // Proxies (nginx) must pass each event on at once rather than buffer the response.
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();
  res.write("retry: 2000\n\n");

  const sent = new Set<number>();
  const queue: string[] = [];
  let blocked = false;
  let closed = false;
  const listeners: (() => void)[] = [];

  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const l of listeners) l();
    res.end();
  };
  const write = (chunk: string) => {
    if (closed) return;
    if (blocked) {
      if (queue.length >= MAX_QUEUED) close();
      else queue.push(chunk);
      return;
    }
    if (!res.write(chunk)) blocked = true;
  };
  res.on("drain", () => {
    blocked = false;
    while (!blocked && queue.length > 0) {
      if (!res.write(queue.shift() as string)) blocked = true;
    }
  });
  // Either may tell first that the client went away.
  req.on("close", close);
  res.on("close", close);
  const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
  keepalive.unref();

  return {
    send(event) {
      if (sent.has(event.id)) return;
      sent.add(event.id);
      // Only overlaps between catch-up and live need the set: keep it small.
      if (sent.size > 10_000) sent.clear();
      write(`id: ${event.id}\ndata: ${JSON.stringify(eventView(event, asTenant))}\n\n`);
    },
    end(name, data) {
      write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      if (blocked) res.once("drain", close);
      else close();
    },
    close,
    get closed() {
      return closed;
    },
    onClose(listener) {
      listeners.push(listener);
    },
  };
}

/** Where a stream resumes: the Last-Event-ID header (a reconnect), else `?after=`, else undefined. */
export function resumeFrom(req: Request, after: number | undefined): number | undefined {
  const header = req.get("last-event-id");
  if (header && /^[0-9]{1,16}$/.test(header)) return Number(header);
  return after;
}
