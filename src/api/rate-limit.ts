/**
 * Jobs per minute per tenant: a token bucket in the API process (M1 of issue 17). A bucket holds
 * up to `perMinute` tokens and gains perMinute/60 a second; a submission takes one, and one that
 * finds none is answered 429 with the seconds until the next token in Retry-After — before it costs
 * the database anything.
 *
 * In memory rather than in a table: a row per tenant updated by every submission would hold that
 * row locked until the submission's commit had flushed, queueing a tenant's submissions one WAL
 * flush at a time (the wake-up key did exactly this, see README "Latency"). The price: with N API
 * processes a tenant gets up to N times its rate, which an operator sizes for (as with a
 * per-instance limit_req in nginx). SQL submission (omega.submit_job) is an operator's interface
 * and is not rate-limited; its other limits are the same as over HTTP.
 */
import type { RequestHandler } from "express";
import { principalOf } from "./auth.ts";
import { HttpProblem } from "./problem.ts";

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #buckets = new Map<number, Bucket>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes a token for `key`; returns 0, or the seconds to wait when there is none. */
  take(key: number, perMinute: number): number {
    const now = this.now();
    const perMs = perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
  }

  /** Gives back a token taken for `key` (never beyond a full bucket). */
  refund(key: number, perMinute: number): void {
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.tokens = Math.min(perMinute, bucket.tokens + 1);
  }
}

/**
 * Refuses a tenant's submission beyond its jobs per minute (auth.tenant runs first). A submission
 * the server then turns away for its own capacity (503: the database is behind) gives its token
 * back: the tenant's rate is spent on what the server would take, and a client retrying through an
 * overload is not told it is over its own limit.
 */
export function submissionRateLimit(buckets = new TokenBuckets()): RequestHandler {
  return (_req, res, next) => {
    const principal = principalOf(res);
    if (principal.kind !== "tenant") return next();
    const wait = buckets.take(principal.id, principal.jobsPerMinute);
    if (wait === 0) {
      res.once("finish", () => {
        if (res.statusCode === 503) buckets.refund(principal.id, principal.jobsPerMinute);
      });
      return next();
    }
    next(
      new HttpProblem(
        429,
        `tenant "${principal.name}" may submit ${principal.jobsPerMinute} jobs a minute; try again in ${wait} s`,
        { headers: { "Retry-After": String(wait) } },
      ),
    );
  };
}
