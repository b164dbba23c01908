/**
 * Errors as RFC 9457 problem details (`application/problem+json`): {type, title, status, detail}
 * and, on 400/422, per-field `errors`. Refusals (bad input, missing rows, conflicts) are expected
 * and answered plainly; anything else is a fault, logged in full and answered with a generic 500.
 */
import { STATUS_CODES } from "node:http";
import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import { z } from "zod";
import { isDatabaseUnavailable, isRetryable, refusalOf } from "../db/errors.ts";
import type { Logger } from "../log.ts";

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  /** How many field errors there were, when `errors` holds only the first MAX_FIELD_ERRORS. */
  errorCount?: number;
}

/**
 * A problem document lists at most this many field errors (and says how many there were): a 1 MiB
 * body of unknown keys would otherwise answer with one entry per key, megabytes of it.
 */
export const MAX_FIELD_ERRORS = 20;

/** A refusal raised by a route: becomes a problem response with this status. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    detail: string,
    extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    // No stack: a refusal is an answer, not a fault, and is never logged with one. Under overload
    // every shed request makes one: capturing and source-mapping their stacks took 1.3 s of the
    // API's 16 s of busy time in a CPU profile at 1,000 jobs/s.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail);
    Error.stackTraceLimit = stackTraceLimit;
    this.name = "HttpProblem";
    this.status = status;
    this.errors = extra.errors;
    this.headers = extra.headers ?? {};
  }
}

export function sendProblem(res: Response, status: number, detail: string, errors?: FieldError[]): void {
  const body: Problem = { type: "about:blank", title: STATUS_CODES[status] ?? "Error", status, detail };
  if (errors?.length) body.errors = errors.slice(0, MAX_FIELD_ERRORS);
  if (totalOf(errors) > MAX_FIELD_ERRORS) body.errorCount = totalOf(errors);
  res.status(status).type("application/problem+json").send(JSON.stringify(body));
}

/** zod issues as one error per field; an unknown field is named by its own path. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const errors: FieldError[] = [];
  // Past the cap only the count matters: no path strings built for a hundred thousand unknown keys.
  let count = 0;
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys.slice(0, Math.max(0, MAX_FIELD_ERRORS - errors.length))) {
        errors.push({ path: [...path, key].join("."), message: "unknown field" });
      }
      count += issue.keys.length;
      continue;
    }
    count += 1;
    if (errors.length >= MAX_FIELD_ERRORS) continue;
    const message =
      issue.code === "invalid_key" ? `invalid key: ${issue.issues[0]?.message ?? ""}` : issue.message;
    errors.push({ path: path.join("."), message });
  }
  return Object.assign(errors, { total: count });
}

/** The number of field errors behind a (possibly capped) list from fieldErrors. */
function totalOf(errors: FieldError[] | undefined): number {
  return (errors as (FieldError[] & { total?: number }) | undefined)?.total ?? errors?.length ?? 0;
}

// The procedures prefix their messages with the field they refuse ("resources.cpu: ...").
const FIELD_PREFIX = /^([A-Za-z][\w.]*): (.+)$/s;

function sqlFieldErrors(status: number, message: string): FieldError[] | undefined {
  if (status !== 422 && status !== 429) return undefined;
  const match = FIELD_PREFIX.exec(message);
  return match ? [{ path: match[1] ?? "", message: match[2] ?? message }] : undefined;
}

/** body-parser's errors carry a `type`; map the ones a client causes. */
function bodyParserProblem(error: { type?: unknown; status?: unknown }): HttpProblem | undefined {
  switch (error.type) {
    case "entity.parse.failed":
      return new HttpProblem(400, "the request body is not valid JSON");
    case "entity.too.large":
      return new HttpProblem(413, "the request body is larger than 1 MiB");
    case "encoding.unsupported":
    case "charset.unsupported":
      return new HttpProblem(415, "the request body must be UTF-8 JSON");
  }
  // Other client errors from express itself (a malformed %-escape in the path is a 400).
  const status = Number(error.status);
  if (status >= 400 && status < 500) return new HttpProblem(status, STATUS_CODES[status] ?? "bad request");
  return undefined;
}

// Data a request carried that Postgres cannot store; the schemas refuse it first, this is the backstop.
const UNSTORABLE_DATA = new Set(["22P05", "22021"]);

function classify(error: unknown): HttpProblem | undefined {
  if (error instanceof HttpProblem) return error;
  if (error instanceof z.ZodError) {
    return new HttpProblem(422, "the request is not valid", { errors: fieldErrors(error) });
  }
  const refusal = refusalOf(error);
  if (refusal) {
    return new HttpProblem(refusal.status, refusal.detail, {
      errors: sqlFieldErrors(refusal.status, refusal.detail),
      // A tenant over its pending-task limit: its tasks are placed within seconds when they fit.
      headers: refusal.status === 429 ? { "Retry-After": "10" } : {},
    });
  }
  if (typeof error !== "object" || error === null) return undefined;
  const code = "code" in error ? String(error.code) : "";
  if (UNSTORABLE_DATA.has(code))
    return new HttpProblem(422, "the request holds characters that cannot be stored");
  if (isRetryable(error)) {
    return new HttpProblem(503, "the database was busy; try again", { headers: { "Retry-After": "1" } });
  }
  if (isDatabaseUnavailable(error)) {
    return new HttpProblem(503, "the database is unavailable; try again", {
      headers: { "Retry-After": "5" },
    });
  }
  if ("type" in error || "status" in error) return bodyParserProblem(error);
  return undefined;
}

/** The last middleware: every error becomes a problem response. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const problem = classify(error);
    if (!problem) {
      logger.error({ err: error, method: req.method, url: req.originalUrl }, "request failed");
      sendProblem(res, 500, "an internal error occurred; it has been logged");
      return;
    }
    if (problem.status >= 500) logger.warn({ err: error, url: req.originalUrl }, problem.message);
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    sendProblem(res, problem.status, problem.message, problem.errors);
  };
}

/** No route matched. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, 404, `no such endpoint: ${req.method} ${req.path}`);
};

/** A known path, a method it does not serve (mounted with `route.all`); OPTIONS lists the methods. */
export const methodNotAllowed: RequestHandler = (req, res) => {
  const methods = Object.keys((req.route as { methods?: Record<string, boolean> } | undefined)?.methods ?? {})
    .filter((m) => m !== "_all")
    .map((m) => m.toUpperCase());
  if (methods.includes("GET")) methods.push("HEAD");
  methods.push("OPTIONS");
  res.setHeader("Allow", methods.join(", "));
  if (req.method === "OPTIONS") {
    res.status(204).end();
    return;
  }
  sendProblem(res, 405, `${req.method} is not allowed here; allowed: ${methods.join(", ")}`);
};
