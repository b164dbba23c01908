/**
 * Maps database errors to what a client should see. The procedures raise custom SQLSTATEs
 * (OM404, OM409, OM422) for refusals; constraint violations mean the request described data the
 * schema will not store. Anything else is a fault, not the client's.
 */
export interface Refusal {
  status: number;
  title: string;
  detail: string;
}

const byCode: Record<string, { status: number; title: string }> = {
  OM404: { status: 404, title: "Not Found" },
  OM409: { status: 409, title: "Conflict" },
  OM422: { status: 422, title: "Unprocessable Content" },
  // Too much already in flight (a tenant's pending tasks): the same request may pass later.
  OM429: { status: 429, title: "Too Many Requests" },
  "23505": { status: 409, title: "Conflict" },
  "23503": { status: 422, title: "Unprocessable Content" },
  "23514": { status: 422, title: "Unprocessable Content" },
  "22P02": { status: 422, title: "Unprocessable Content" },
  "22003": { status: 422, title: "Unprocessable Content" },
  "22P05": { status: 422, title: "Unprocessable Content" },
  "22021": { status: 422, title: "Unprocessable Content" },
};

export function refusalOf(error: unknown): Refusal | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const known = byCode[String(error.code)];
  if (!known) return undefined;
  const message = "message" in error ? String(error.message) : known.title;
  return { ...known, detail: message };
}

/** Serialization failures and deadlocks: the transaction may simply be tried again. */
export function isRetryable(error: unknown): boolean {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  return code === "40001" || code === "40P01";
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
]);

/**
 * The database cannot be reached, is shutting down or starting up, or dropped the connection (a
 * restart): nothing the request did was kept, and the same request may succeed later.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = "code" in error ? String(error.code) : "";
  const message = "message" in error ? String(error.message) : "";
  return (
    UNAVAILABLE_CODES.has(code) ||
    code.startsWith("08") ||
    /trying to connect|Connection terminated|connection error and is not queryable/.test(message)
  );
}
