/**
 * No object in one of our request bodies has more than a few dozen keys (string maps hold at most
 * 100 entries), yet a 1 MiB body can hold a hundred thousand: validating each key with zod and
 * describing each as an error took 1.7 s of event-loop time (issue 17, M3). A body with an object of
 * more than MAX_KEYS keys is refused after one cheap pass, before zod sees it, with the first
 * MAX_FIELD_ERRORS of its unknown fields and their count.
 */
import { z } from "zod";
import { type FieldError, HttpProblem, MAX_FIELD_ERRORS } from "./problem.ts";

const MAX_KEYS = 200;

interface Crowded {
  path: string[];
  keys: string[];
}

/** The first object (depth first) with more than MAX_KEYS own keys, or undefined. */
function firstCrowded(value: unknown): Crowded | undefined {
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    if (typeof item.value !== "object" || item.value === null) continue;
    if (Array.isArray(item.value)) {
      // Arrays are bounded by their schemas; only objects inside them are looked into.
      for (const [i, child] of item.value.entries()) {
        if (typeof child === "object" && child !== null && !Array.isArray(child)) {
          stack.push({ value: child, path: [...item.path, String(i)] });
        }
      }
      continue;
    }
    const keys = Object.keys(item.value);
    if (keys.length > MAX_KEYS) return { path: item.path, keys };
    for (const key of keys) {
      const child = (item.value as Record<string, unknown>)[key];
      if (typeof child === "object" && child !== null)
        stack.push({ value: child, path: [...item.path, key] });
    }
  }
  return undefined;
}

/** Refuses a body holding an object of more keys than any of ours takes (see above). */
export function refuseCrowdedObjects(schema: z.ZodType, value: unknown): void {
  const crowded = firstCrowded(value);
  if (!crowded) return;
  // At the top of an object schema its fields are known: name the unknown ones, as zod would.
  const known =
    crowded.path.length === 0 && schema instanceof z.ZodObject
      ? new Set(Object.keys(schema.shape))
      : undefined;
  const unknown = known ? crowded.keys.filter((k) => !known.has(k)) : crowded.keys;
  const errors: FieldError[] = unknown.slice(0, MAX_FIELD_ERRORS).map((key) => ({
    path: [...crowded.path, key].join("."),
    message: known ? "unknown field" : "too many entries",
  }));
  throw new HttpProblem(
    422,
    `the request is not valid: an object holds ${crowded.keys.length} fields (at most ${MAX_KEYS})`,
    {
      errors: Object.assign(errors, { total: unknown.length }),
    },
  );
}
