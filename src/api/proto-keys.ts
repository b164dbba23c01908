/**
 * JSON.parse makes `"__proto__"` an ordinary own key, but most code that copies objects (zod's
 * records among it) assigns it, which sets the copy's prototype instead: the key vanishes without a
 * word (a selector `{"__proto__": "x"}` became `{}`). No field of ours may be named so, and no
 * label key starts with "_": a body holding one is refused, naming where.
 */
import { HttpProblem } from "./problem.ts";

const PROTO = "__proto__";

interface Visit {
  value: object;
  key: string;
  parent: Visit | undefined;
}

/** The path of the first own "__proto__" key in a parsed JSON value, or undefined. */
export function protoKeyPath(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  // Iterative, and each node points at its parent rather than carrying its path: a body of
  // thousands of nested arrays costs one pass, not a path copy per level (or a stack overflow).
  const stack: Visit[] = [{ value, key: "", parent: undefined }];
  for (let visit = stack.pop(); visit; visit = stack.pop()) {
    if (!Array.isArray(visit.value) && Object.hasOwn(visit.value, PROTO)) {
      const path = [PROTO];
      for (let v: Visit | undefined = visit; v?.parent; v = v.parent) path.unshift(v.key);
      return path.join(".");
    }
    for (const [key, child] of Object.entries(visit.value)) {
      if (typeof child === "object" && child !== null) stack.push({ value: child, key, parent: visit });
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
