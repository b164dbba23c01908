/**
 * JSON.parse makes `"__proto__"` an ordinary own key, but most code that copies objects (zod's
 * records among it) assigns it, which sets the copy's prototype instead: the key vanishes without a
 * word (a selector `{"__proto__": "x"}` became `{}`). No field of ours may be named so, and no
 * label key starts with "_": a body holding one is refused, naming where.
 */
import { HttpProblem } from "./problem.ts";

const PROTO = "__proto__";

/** The path of the first own "__proto__" key in a parsed JSON value, or undefined. */
export function protoKeyPath(value: unknown): string | undefined {
  // Iterative: a deeply nested body must not overflow the stack.
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    if (typeof item.value !== "object" || item.value === null) continue;
    if (!Array.isArray(item.value) && Object.hasOwn(item.value, PROTO))
      return [...item.path, PROTO].join(".");
    for (const [key, child] of Object.entries(item.value)) {
      if (typeof child === "object" && child !== null)
        stack.push({ value: child, path: [...item.path, key] });
    }
  }
  return undefined;
}

/** Refuses a parsed body holding a "__proto__" key; `raw` spares the walk when it cannot. */
export function refuseProtoKeys(value: unknown, raw?: Buffer | string): void {
  if (raw !== undefined && !raw.includes(PROTO)) return;
  const path = protoKeyPath(value);
  if (path === undefined) return;
  throw new HttpProblem(422, "the request is not valid", {
    errors: [{ path, message: `"${PROTO}" is not accepted as a key` }],
  });
}
