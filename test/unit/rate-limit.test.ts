import { EventEmitter } from "node:events";
import { expect, it } from "vitest";
import { submissionRateLimit, TokenBuckets } from "../../src/api/rate-limit.ts";

const tenant = { kind: "tenant", id: 7, name: "acme", jobsPerMinute: 2 } as const;

/** Runs the middleware once; the response then finishes with `status`. Returns what next got. */
function submit(limit: ReturnType<typeof submissionRateLimit>, status: number): unknown {
  const res = Object.assign(new EventEmitter(), { locals: { principal: tenant }, statusCode: status });
  let passed: unknown = "not called";
  limit({} as never, res as never, (error?: unknown) => {
    passed = error ?? "next";
  });
  res.emit("finish");
  return passed;
}

it("a tenant's submissions beyond its jobs per minute get 429 with Retry-After", () => {
  const limit = submissionRateLimit(new TokenBuckets(() => 0));
  expect(submit(limit, 201)).toBe("next");
  expect(submit(limit, 201)).toBe("next");
  expect(submit(limit, 201)).toMatchObject({ status: 429, headers: { "Retry-After": "30" } });
});

it("a submission the server refuses for its own capacity (503) gives its token back", () => {
  const limit = submissionRateLimit(new TokenBuckets(() => 0));
  for (let i = 0; i < 10; i++) expect(submit(limit, 503)).toBe("next");
  expect(submit(limit, 201)).toBe("next");
  expect(submit(limit, 422)).toBe("next");
  expect(submit(limit, 201)).toMatchObject({ status: 429 });
});
