/**
 * The API process's one view of new events: a dedicated connection LISTENs on `omega_events`
 * (0050_event_notify.sql), reads the rows each notification points at, and hands every event to
 * the subscribers (the server-sent event streams) whose filter wants it. One read per committed
 * statement however many clients watch; each client is then served from memory.
 */
import type pg from "pg";
import type { Pool } from "../db/pool.ts";
import { type ClusterEvent, eventRange } from "../db/queries/event-list.ts";
import type { Logger } from "../log.ts";
import { observeEvent } from "../metrics/events.ts";

export interface Subscriber {
  wants(event: ClusterEvent): boolean;
  deliver(event: ClusterEvent): void;
  /**
   * The feed lost its connection and may have missed notifications meanwhile: the subscriber
   * should start over from what it last delivered (a stream ends; its client resumes with
   * Last-Event-ID and catches up from the table).
   */
  lost(): void;
}

export interface EventFeed {
  subscribe(subscriber: Subscriber): () => void;
  close(): Promise<void>;
}

interface Range {
  cell: string;
  lo: number;
  hi: number;
}

/**
 * Two statements running at once draw ids from one sequence, so their ranges may interleave: an
 * event is read again by the other's range. The ids delivered lately are remembered to drop those.
 */
const RECENT_IDS = 200_000;

/** Ranges of a cell at most this many ids apart are read as one. */
const MERGE_GAP = 1_000;

/**
 * With no stream following, new events feed only the metrics: their ranges are gathered this long
 * and read together. At 200 jobs/s the feed read once per four jobs, each read a round trip and a
 * statement; a metric a tenth of a second late costs nothing.
 */
const UNWATCHED_GATHER_MS = 100;

export function startEventFeed(pool: Pool, logger: Logger): EventFeed {
  const subscribers = new Set<Subscriber>();
  const recent = new Set<number>();
  let client: pg.PoolClient | undefined;
  let closed = false;
  // False until the first LISTEN: a stream that subscribes before it has missed nothing.
  let reconnecting = false;
  // Ranges are read one at a time, in the order they were notified.
  let reading: Promise<void> = Promise.resolve();

  const publish = (events: ClusterEvent[]) => {
    for (const event of events) {
      if (recent.has(event.id)) continue;
      recent.add(event.id);
      observeEvent(event);
      for (const s of subscribers) if (s.wants(event)) s.deliver(event);
    }
    if (recent.size > RECENT_IDS) {
      const drop = recent.size - RECENT_IDS / 2;
      let i = 0;
      for (const id of recent) {
        if (i++ >= drop) break;
        recent.delete(id);
      }
    }
  };

  // Ranges notified while a read is under way wait here, merged per cell when they lie close: under
  // load one read serves the dozens of statements that committed meanwhile, instead of one read
  // each. A merged range may span ids of transactions not yet committed (they arrive with their own
  // notification later) and ids already read (dropped by `recent`); ranges far apart — a long
  // transaction's early ids committing late — are read apart, so a merge never re-reads much.
  const pending = new Map<string, Range[]>();
  // One pass over what is pending; ranges notified meanwhile schedule the next pass (see below).
  const readPending = async () => {
    const ranges = [...pending.values()].flat();
    pending.clear();
    for (const r of ranges) {
      try {
        publish(await eventRange(pool, r.cell, r.lo, r.hi));
      } catch (error) {
        if (!closed) logger.warn({ err: error, range: r }, "could not read new events");
      }
    }
  };
  const gathered = () => new Promise<void>((resolve) => setTimeout(resolve, UNWATCHED_GATHER_MS).unref());
  const addPending = (r: Range) => {
    const ranges = pending.get(r.cell) ?? [];
    const near = ranges.find((q) => r.lo <= q.hi + MERGE_GAP && r.hi >= q.lo - MERGE_GAP);
    if (near) {
      near.lo = Math.min(near.lo, r.lo);
      near.hi = Math.max(near.hi, r.hi);
    } else ranges.push({ ...r });
    pending.set(r.cell, ranges);
  };

  const onNotification = (message: pg.Notification) => {
    let ranges: Range[];
    try {
      ranges = JSON.parse(message.payload ?? "[]") as Range[];
    } catch {
      return;
    }
    // The first range to wait schedules a pass, after the reads before it; later ones join it.
    const idle = pending.size === 0;
    for (const r of ranges) addPending(r);
    if (!idle) return;
    reading = subscribers.size > 0 ? reading.then(readPending) : reading.then(gathered).then(readPending);
  };

  // A pooled connection is given back exactly once, destroyed (one that listened is not handed to
  // a request); one still checked out would hold pool.end() forever.
  const dropped = new WeakSet<pg.PoolClient>();
  const drop = (c: pg.PoolClient) => {
    if (dropped.has(c)) return;
    dropped.add(c);
    c.release(true);
  };
  const retry = (delay: number) => {
    if (!closed) setTimeout(() => void connect(delay), delay).unref();
  };
  let connecting = false;

  async function connect(delay = 500): Promise<void> {
    if (closed || client || connecting) return;
    connecting = true;
    let c: pg.PoolClient | undefined;
    try {
      c = await pool.connect();
      const mine = c;
      mine.on("notification", onNotification);
      // The connection broke (a database restart): listen again on a new one. (While connecting,
      // the LISTEN below fails instead, and the catch retries.)
      mine.on("error", () => {
        drop(mine);
        if (client !== mine) return;
        client = undefined;
        for (const s of subscribers) s.lost();
        retry(500);
      });
      if (!closed) await mine.query("listen omega_events");
      if (closed) {
        drop(mine);
        return;
      }
      client = mine;
      // Streams that began while no connection listened may have missed events: they start over.
      if (reconnecting) for (const s of subscribers) s.lost();
      reconnecting = true;
    } catch (error) {
      if (c) drop(c);
      if (!closed) logger.warn({ err: error, retryInMs: delay }, "cannot listen for events; retrying");
      retry(Math.min(delay * 2, 10_000));
    } finally {
      connecting = false;
    }
  }
  void connect();

  return {
    subscribe(subscriber) {
      subscribers.add(subscriber);
      return () => subscribers.delete(subscriber);
    },
    async close() {
      closed = true;
      subscribers.clear();
      const c = client;
      client = undefined;
      if (c) drop(c);
      // The reads under way finish (or fail) on their own; a stop does not wait on a stuck one.
      await Promise.race([reading, new Promise((r) => setTimeout(r, 5_000).unref())]);
    },
  };
}
