/**
 * `omega serve` over several partitions: one HTTP entry that routes every request by cell.
 *
 * Each partition has its own API (src/api/app.ts on its own pool, listening on loopback), which does
 * everything it does with one database — authentication, validation, group commit, event streams.
 * In front of them, this server decides where a request goes and merges what spans partitions:
 *
 * - by cell (`/v1/cells/:cell/…`, `/v1/quotas/:tenant/:cell/:band`, `POST /v1/cells`, `POST
 *   /v1/jobs` by its body's `cell`, lists and events filtered by `?cell=`): to the partition the
 *   router's directory names; `503 Retry-After` while the cell moves. A write refused with 404/422
 *   is asked of the directory again: if the cell moved meanwhile, it is sent to its new partition.
 * - by job id (`/v1/jobs/:id`, `/v1/jobs/:id/events`): to the partition holding the job — its home
 *   partition (the id says it: migration 0061) is asked first, the others only if it is not there
 *   (a job of a cell moved since).
 * - cluster-wide lists (`GET /v1/jobs`, `/v1/cells`, `/v1/quotas`, `/v1/schedulers`,
 *   `/v1/events`): every partition, merged (src/api/partitioned/merge.ts); event streams without
 *   a cell are the partitions' streams interleaved.
 * - tenants (global): written on p0, then copied whole to every other partition before the answer
 *   (src/api/partitioned/tenants.ts); read from p0.
 * - the rest (probes, metrics, the console, the API description): p0; `/readyz` asks all.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../log.ts";
import { LISTEN_BACKLOG } from "../../net/listen-backlog.ts";
import { type Answer, ask, type Outgoing, open, reply, stream } from "./forward.ts";
import { mergeCells, mergeEventPages, mergeJobPages, mergeQuotas, mergeSchedulers } from "./merge.ts";
import { CellMoving, type PartitionMap } from "./partition-map.ts";
import type { TenantReplicator } from "./tenants.ts";

export interface FrontOptions {
  /** Each partition's API, p0… (base URLs on loopback). */
  apis: readonly string[];
  map: PartitionMap;
  tenants: TenantReplicator;
  logger: Logger;
  port: number;
  host?: string;
}

export interface RunningFront {
  url: string;
  close(): Promise<void>;
}

// The body limit of the partitions' APIs (1 MiB) and a little more: they answer 413 themselves.
const MAX_BODY = 1024 * 1024 + 1024;

class Refusal extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

function problem(res: ServerResponse, status: number, detail: string, headers: Record<string, string> = {}) {
  const title =
    { 413: "Content Too Large", 502: "Bad Gateway", 503: "Service Unavailable" }[status] ?? "Error";
  res.writeHead(status, { "content-type": "application/problem+json", ...headers });
  res.end(JSON.stringify({ type: "about:blank", title, status, detail }));
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Refusal(413, "the request body is over 1 MiB");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The `cell` of a JSON body, if it has one (anything else is for the partition to refuse). */
function cellOfBody(body: Buffer | undefined, field: "cell" | "name"): string | undefined {
  if (!body?.length) return undefined;
  try {
    const value = (JSON.parse(body.toString("utf8")) as Record<string, unknown> | null)?.[field];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

const segment = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const CELL_PATH = /^\/v1\/cells\/([^/]+)(\/.*)?$/;
const QUOTA_PATH = /^\/v1\/quotas\/[^/]+\/([^/]+)\/[^/]+$/;
const JOB_PATH = /^\/v1\/jobs\/([0-9]{1,16})(\/events)?$/;
const TENANT_WRITE = /^\/v1\/tenants(?:\/([^/]+)\/(?:limits|token))?$/;

export async function startFront(options: FrontOptions): Promise<RunningFront> {
  const { apis, map, tenants, logger } = options;
  const p0 = apis[0] as string;
  const all = (out: Outgoing) => Promise.all(apis.map((api) => ask(api, out)));

  /** The first answer that is not a success, if any: a refusal is the same from every partition. */
  const failed = (answers: Answer[]) => answers.find((a) => a.status < 200 || a.status >= 300);
  const json = <T>(a: Answer) => JSON.parse(a.body.toString("utf8")) as T;
  const sendJson = (res: ServerResponse, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  };

  /** To `cell`'s partition; a write refused as not found is resent if the cell moved meanwhile. */
  async function toCell(res: ServerResponse, out: Outgoing, cell: string, follow: boolean): Promise<void> {
    const p = await map.ofCell(cell);
    if (follow) return stream(res, apis[p] as string, out);
    let answer = await ask(apis[p] as string, out);
    if ((answer.status === 404 || answer.status === 422) && out.method !== "GET") {
      const now = await map.ofCell(cell);
      if (now !== p) answer = await ask(apis[now] as string, out);
    }
    reply(res, answer);
  }

  /** To the partition holding job `id`: its home first, then the others. */
  async function toJob(res: ServerResponse, out: Outgoing, id: number, follow: boolean): Promise<void> {
    const home = map.homeOf(id);
    const order = [home, ...apis.keys()].filter((p, i, a) => a.indexOf(p) === i);
    let first: Answer | undefined;
    for (const p of order) {
      if (follow) {
        // A stream cannot be asked and then dropped: ask where the job is by a one-event page.
        const probe = await ask(apis[p] as string, { ...out, path: `/v1/jobs/${id}/events?limit=1` });
        if (probe.status === 404) continue;
        return stream(res, apis[p] as string, out);
      }
      const answer = await ask(apis[p] as string, out);
      first ??= answer;
      if (answer.status !== 404) return reply(res, answer);
    }
    if (first) reply(res, first);
    else problem(res, 404, `job ${id} does not exist`);
  }

  /** Cluster-wide lists: every partition's page, merged. */
  async function merged(res: ServerResponse, out: Outgoing, path: string, query: URLSearchParams) {
    const answers = await all(out);
    const refused = failed(answers);
    if (refused) return reply(res, refused);
    const pages = answers.map((a) => json<never>(a));
    const limit = Number(query.get("limit") ?? 100) || 100;
    if (path === "/v1/jobs") return sendJson(res, mergeJobPages(pages, limit));
    if (path === "/v1/events") return sendJson(res, mergeEventPages(pages, limit, query.has("after")));
    if (path === "/v1/cells") return sendJson(res, mergeCells(pages));
    if (path === "/v1/quotas") return sendJson(res, mergeQuotas(pages));
    return sendJson(res, mergeSchedulers(pages));
  }

  /**
   * Every partition's event stream, interleaved whole event by whole event. When one ends, all do:
   * the client reconnects (Last-Event-ID resumes each partition after that id; events of another
   * partition with smaller ids not yet sent then are skipped — follow one cell to resume exactly).
   */
  async function fanIn(res: ServerResponse, out: Outgoing) {
    const refused = failed(await all({ ...out, path: "/v1/events?limit=1" }));
    if (refused) return reply(res, refused);
    const upstreams = await Promise.all(apis.map((api) => open(api, out)));
    const bad = upstreams.find((u) => u.statusCode !== 200);
    if (bad) {
      for (const u of upstreams) u.destroy();
      return problem(res, 502, "a partition refused the event stream; retry", { "retry-after": "1" });
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    const endAll = () => {
      for (const u of upstreams) u.destroy();
      res.end();
    };
    res.on("close", endAll);
    // A client that does not read holds every partition's stream back (each ends a stream that
    // falls too far behind, as it does for its own clients), rather than queueing here.
    let paused = false;
    const write = (text: string) => {
      if (res.write(text) || paused) return;
      paused = true;
      for (const u of upstreams) u.pause();
      res.once("drain", () => {
        paused = false;
        for (const u of upstreams) u.resume();
      });
    };
    for (const upstream of upstreams) {
      let pending = "";
      upstream.setEncoding("utf8");
      upstream.on("data", (chunk: string) => {
        pending += chunk;
        const cut = pending.lastIndexOf("\n\n");
        if (cut < 0) return;
        const whole = pending.slice(0, cut + 2);
        pending = pending.slice(cut + 2);
        // The partitions' own `retry:` lines: the front sent its own.
        const events = whole.split("\n\n").filter((e) => e && !e.startsWith("retry:"));
        if (events.length) write(`${events.join("\n\n")}\n\n`);
      });
      upstream.on("end", endAll);
      upstream.on("error", endAll);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://front");
    const path = url.pathname;
    const method = req.method ?? "GET";
    const body = await readBody(req);
    const out: Outgoing = { method, path: req.url ?? "/", headers: req.headers, body };
    const follow = url.searchParams.get("follow") === "true";

    const tenantWrite = TENANT_WRITE.exec(path);
    if (tenantWrite && method !== "GET") {
      const answer = await ask(p0, out);
      const name = tenantWrite[1] ? segment(tenantWrite[1]) : cellOfBody(body, "name");
      // A 409 (the tenant exists) is copied again too: a retry after a failed copy completes it.
      if (name && ((answer.status >= 200 && answer.status < 300) || answer.status === 409)) {
        try {
          await tenants.replicate(name);
        } catch (error) {
          logger.warn({ err: error, tenant: name }, "a tenant could not be copied to every partition");
          // Saved on p0, not everywhere: not acknowledged. Repeating the request completes the copy.
          throw new Refusal(
            503,
            `tenant "${name}" was saved but could not be copied to every partition (${(error as Error).message}); ` +
              "repeat the request (a 409 for a new tenant then means it is everywhere, and POST /v1/tenants/:name/token gives it a token)",
            { "retry-after": "1" },
          );
        }
      }
      return reply(res, answer);
    }
    const cellPath = CELL_PATH.exec(path) ?? QUOTA_PATH.exec(path);
    if (cellPath?.[1]) return toCell(res, out, segment(cellPath[1]), follow);
    const job = JOB_PATH.exec(path);
    if (job?.[1]) return toJob(res, out, Number(job[1]), follow);
    if (path === "/v1/cells" && method === "POST") {
      const cell = cellOfBody(body, "name");
      return cell ? toCell(res, out, cell, false) : reply(res, await ask(p0, out));
    }
    if (path === "/v1/jobs" && method === "POST") {
      const cell = cellOfBody(body, "cell");
      return cell ? toCell(res, out, cell, false) : reply(res, await ask(p0, out));
    }
    const listed = ["/v1/jobs", "/v1/events", "/v1/cells", "/v1/quotas", "/v1/schedulers"].includes(path);
    if (listed && method === "GET") {
      const cell = url.searchParams.get("cell");
      if (cell && (path === "/v1/jobs" || path === "/v1/events")) return toCell(res, out, cell, follow);
      if (path === "/v1/events" && follow) return fanIn(res, out);
      return merged(res, out, path, url.searchParams);
    }
    if (path === "/readyz") {
      const answers = await all(out);
      return reply(res, failed(answers) ?? (answers[0] as Answer));
    }
    if (follow) return stream(res, p0, out);
    return reply(res, await ask(p0, out));
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (error instanceof CellMoving) return problem(res, 503, error.message, { "retry-after": "1" });
      if (error instanceof Refusal) return problem(res, error.status, error.message, error.headers);
      logger.warn({ err: error }, "routing a request failed");
      problem(res, 502, "a partition could not be reached; retry", { "retry-after": "1" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const wildcard = !options.host || options.host === "0.0.0.0" || options.host === "::";
  const url = `http://${wildcard ? "127.0.0.1" : address.address}:${address.port}`;
  logger.info({ url, partitions: apis.length }, "HTTP API listening, routing by cell over the partitions");
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      }),
  };
}
