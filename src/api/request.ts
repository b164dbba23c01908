/**
 * Reading requests: JSON bodies (415 for other content types, 400 malformed, 413 over 1 MiB),
 * validation against the zod schemas (422 with per-field errors), and path parameters.
 */
import express, { type Request, type RequestHandler } from "express";
import type { z } from "zod";
import { MACHINE_NAME_PATTERN, NAME_PATTERN } from "../domain/job-spec.ts";
import { refuseCrowdedObjects } from "./crowded-objects.ts";
import { HttpProblem } from "./problem.ts";
import { refuseProtoKeys } from "./proto-keys.ts";

// Requests whose raw body holds "__proto__" somewhere: only those are walked for such a key.
const mentionsProto = new WeakSet<object>();
const parseJson = express.json({
  limit: "1mb",
  strict: true,
  type: isJson,
  verify: (req, _res, buf) => {
    if (buf.includes("__proto__")) mentionsProto.add(req);
  },
});

function isJson(req: { headers: { "content-type"?: string | undefined } }): boolean {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

/** For endpoints that take a body: it must be JSON, at most 1 MiB, and present. */
export const jsonBody: RequestHandler = (req, res, next) => {
  if (!isJson(req)) {
    next(new HttpProblem(415, "the request body must be JSON (Content-Type: application/json)"));
    return;
  }
  // body-parser reads an empty body as {}: say what is wrong rather than list every missing field.
  const length = req.headers["content-length"];
  if (length === "0" || (length === undefined && req.headers["transfer-encoding"] === undefined)) {
    next(new HttpProblem(400, "the request body is empty; a JSON object is required"));
    return;
  }
  parseJson(req, res, (error?: unknown) => {
    if (error) return next(error);
    try {
      if (mentionsProto.has(req)) refuseProtoKeys(req.body);
    } catch (refusal) {
      return next(refusal);
    }
    next();
  });
};

/** Parses `value` with `schema`; a ZodError becomes a 422 with per-field errors. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  refuseCrowdedObjects(schema, value);
  return schema.parse(value);
}

/** A path parameter as express decoded it. */
export function param(req: Request, name: string): string {
  const value = req.params[name];
  if (typeof value !== "string") throw new Error(`route has no parameter ${name}`);
  return value;
}

/** A cell or tenant name from the path; a name that cannot exist is simply not found. */
export function nameParam(req: Request, name: string, noun: string): string {
  const value = param(req, name);
  if (!NAME_PATTERN.test(value))
    throw new HttpProblem(404, `${noun} ${JSON.stringify(value)} does not exist`);
  return value;
}

export function machineNameParam(req: Request): string {
  const value = param(req, "name");
  if (!MACHINE_NAME_PATTERN.test(value)) {
    throw new HttpProblem(404, `machine ${JSON.stringify(value)} does not exist`);
  }
  return value;
}

/** An id from the path: anything but a positive integer in range is a `noun` that does not exist. */
export function idParam(req: Request, name: string, noun: string): number {
  const value = param(req, name);
  const id = /^[0-9]{1,16}$/.test(value) ? Number(value) : 0;
  if (id < 1 || !Number.isSafeInteger(id))
    throw new HttpProblem(404, `${noun} ${JSON.stringify(value)} does not exist`);
  return id;
}

export function jobIdParam(req: Request): number {
  return idParam(req, "id", "job");
}
