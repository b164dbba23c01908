import { InvalidArgumentError } from "commander";
import { parseDuration } from "../domain/duration.ts";

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive whole number");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number, 0 or more");
  return n;
}

/** A duration ("500ms", "30s", "2m") in milliseconds. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1)
    throw new InvalidArgumentError('expected a duration such as "500ms" or "30s"');
  return ms;
}
