import { readEvents, type ServerEvent } from "../../src/cli/client/sse.ts";
import { waitFor } from "./processes.ts";

export interface Follower {
  events: ServerEvent[];
  /** Parsed `data` of the id-carrying events (not `end`). */
  data(): { id: number; kind: string; jobId: number; tenant: string }[];
  /** Resolves when the server ends the stream. */
  done: Promise<void>;
  until(check: (f: Follower) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Reads a server-sent event stream in the background, as a client would. */
export async function follow(
  url: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<Follower> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, ...headers },
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  const events: ServerEvent[] = [];
  const done = (async () => {
    try {
      for await (const e of readEvents(response.body as ReadableStream<Uint8Array>)) events.push(e);
    } catch {
      // aborted
    }
  })();
  const follower: Follower = {
    events,
    data: () => events.filter((e) => e.event === "message").map((e) => JSON.parse(e.data)),
    done,
    until: (check, what, timeoutMs = 10_000) =>
      waitFor(async () => check(follower), timeoutMs, what).then(() => {}),
    close: () => controller.abort(),
  };
  return follower;
}
