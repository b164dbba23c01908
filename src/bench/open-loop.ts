/**
 * Open-loop arrivals: request i is due at start + i / rate, whether or not earlier ones have been
 * answered (a closed loop would slow down with the server and hide its queueing). `send` gets the
 * time the request was due, so latency is measured from there, not from when the generator got
 * round to it (no coordinated omission). Resolves when every request has settled.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  send: (index: number, dueAt: number) => Promise<void>,
): Promise<void> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  let next = 0;
  while (next < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; next < due; next++) inFlight.push(send(next, start + (next * 1000) / rate));
    // Asleep until the next request is due, not woken every millisecond: the generator shares the
    // machine with what it measures (polling cost 0.1 of a core at any rate).
    const nextDueIn = start + (next * 1000) / rate - performance.now();
    await new Promise((r) => setTimeout(r, Math.max(1, nextDueIn)));
  }
  await Promise.all(inFlight);
}
