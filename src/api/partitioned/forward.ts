import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http";

/** A partition's answer, read whole. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are the front's own business, not the partition's.
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);

function passable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP.has(name)) out[name] = value;
  }
  return out;
}

export interface Outgoing {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The request's body, read by the front (undefined: none). */
  body?: Buffer;
}

/** Sends the request to a partition's API; its answer is for the caller to read. */
export function open(base: string, out: Outgoing): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers = passable(out.headers);
    if (out.body) headers["content-length"] = String(out.body.length);
    const req = request(new URL(out.path, base), { method: out.method, headers }, resolve);
    req.on("error", reject);
    req.end(out.body);
  });
}

/** Sends the request to a partition's API and reads its whole answer. */
export async function ask(base: string, out: Outgoing): Promise<Answer> {
  const res = await open(base, out);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) };
}

/** Writes a partition's answer to the client. */
export function reply(res: ServerResponse, answer: Answer): void {
  const headers = passable(answer.headers);
  headers["content-length"] = String(answer.body.length);
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

/**
 * Sends the request to a partition's API and streams its answer back as it comes: for event
 * streams (text/event-stream), which never end by themselves. The partition's request is cut when
 * the client goes.
 */
export async function stream(res: ServerResponse, base: string, out: Outgoing): Promise<void> {
  const upstream = await open(base, out);
  res.writeHead(upstream.statusCode ?? 502, passable(upstream.headers));
  res.flushHeaders();
  res.on("close", () => upstream.destroy());
  upstream.on("error", () => res.end());
  upstream.pipe(res);
}
