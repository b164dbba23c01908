import type { RequestHandler } from "express";
import type { Pool } from "../db/pool.ts";
import { type PoolWaits, trackPoolWaits } from "../db/pool-waits.ts";
import { HttpProblem } from "./problem.ts";

/** How long /readyz keeps saying "shedding load" after the last request it turned away. */
const SHEDDING_SHOWN_MS = 1_000;

/**
 * Backpressure: beyond what the database can take, a request is refused at once with 503 and
 * Retry-After instead of queueing for a connection until it times out — a client learns in
 * milliseconds, not seconds, and the work already accepted keeps its pace. /readyz says "shedding
 * load" while it happens, so a load balancer sends new clients elsewhere.
 */
export class LoadShedder {
  private shedAt = Number.NEGATIVE_INFINITY;
  private readonly waits: PoolWaits;

  constructor(
    private readonly pool: Pool,
    /** Requests waiting for a database connection beyond which new ones are refused. */
    private readonly maxWaiting: number,
    /**
     * How long a request may have waited for a connection before new ones are refused. A request
     * makes a few round trips, each of which may wait: without this bound, new requests kept
     * queueing behind them for as long as the pool's connection timeout (10 s) at each one.
     */
    private readonly maxWaitMs = 500,
  ) {
    this.waits = trackPoolWaits(pool);
  }

  /**
   * Refuses requests while too many wait for a connection, or the oldest has waited too long
   * (mounted before the /v1 routes).
   */
  readonly middleware: RequestHandler = (_req, _res, next) => {
    if (this.pool.waitingCount >= this.maxWaiting) throw this.refuse("requests are waiting for the database");
    const waitedMs = this.waits.oldestWaitMs();
    if (waitedMs > this.maxWaitMs) {
      throw this.refuse(`a request has waited ${Math.round(waitedMs)} ms for a database connection`);
    }
    next();
  };

  /** The 503 to throw when some part of the API is full; records that load is being shed. */
  refuse(why: string): HttpProblem {
    this.shedAt = Date.now();
    return new HttpProblem(503, `the server is at capacity (${why}); retry after 1 s`, {
      headers: { "Retry-After": "1" },
    });
  }

  get shedding(): boolean {
    return Date.now() - this.shedAt < SHEDDING_SHOWN_MS;
  }
}
