/** Cumulative counts of the API's http_request_duration_seconds for one route and status. */
export type Buckets = Map<number, number>;

/**
 * Reads the API's own timing of `POST /v1/jobs` answered 201 from its /metrics: how long the
 * server took from the request's arrival to its answer, against which the load generator's accept
 * latency (from when the request was due) shows the time spent before the server saw it (the
 * generator's own delays, the kernel's queues).
 */
export async function readSubmitHistogram(apiUrl: string): Promise<Buckets> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const buckets: Buckets = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("http_request_duration_seconds_bucket{")) continue;
    if (
      !line.includes('method="POST"') ||
      !line.includes('route="/v1/jobs"') ||
      !line.includes('status="201"')
    )
      continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (le) buckets.set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), value);
  }
  return buckets;
}

/**
 * The upper bound (ms) of the bucket holding the `p`th percentile of the requests between two
 * readings: a coarse figure (the buckets are 1, 2.5, 5, 10, 25… ms), enough to tell milliseconds
 * from seconds.
 */
export function bucketPercentileMs(before: Buckets, after: Buckets, p: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = delta(Number.POSITIVE_INFINITY);
  if (total === 0) return null;
  for (const le of bounds) if (delta(le) >= (p / 100) * total) return le * 1000;
  return null;
}
