import { InvalidArgumentError } from "commander";
import { parseDuration } from "../domain/duration.ts";

/** A whole number of at least `min`, for commander. */
function wholeNumberFrom(min: number, what: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected ${what}`);
    return n;
  };
}

export const positiveInt = wholeNumberFrom(1, "a positive whole number");
export const nonNegativeInt = wholeNumberFrom(0, "a whole number, 0 or more");

/** A duration ("500ms", "30s", "2m") in milliseconds. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 1)
    throw new InvalidArgumentError('expected a duration such as "500ms" or "30s"');
  return ms;
}
