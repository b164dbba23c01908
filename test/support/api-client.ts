import { pino } from "pino";
import { expect } from "vitest";
import { type RunningServer, startServer } from "../../src/api/server.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { createLoginRole, type GroupRole, type LoginRole } from "./roles.ts";

export const ADMIN = "test-admin-token-0123456789";

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the server answered
  body: any;
  text: string;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as is, with no JSON encoding (and no content type unless given). */
  raw?: string;
  headers?: Record<string, string>;
}

/** A real server on a free port over a fresh database, and a fetch helper to call it. */
export interface Api {
  db: TestDatabase;
  /** The login role the server runs as, when started with `as`. */
  role?: LoginRole;
  url: string;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * `as`: serve through a login role of that group (created for this server, dropped on close), as a
 * deployment does; `db.pool` stays the owner's, for setting up and checking.
 */
export async function startApi(
  options: { as?: GroupRole; maxWaiting?: number; submissionQueueDelayMs?: number } = {},
): Promise<Api> {
  const db = await createTestDatabase();
  const login = options.as ? await createLoginRole(db.url, options.as) : undefined;
  const server: RunningServer = await startServer({
    pool: login?.pool ?? db.pool,
    adminToken: ADMIN,
    port: 0,
    host: "127.0.0.1",
    logger: pino({ level: "silent" }),
    maxWaiting: options.maxWaiting,
    submissionQueueDelayMs: options.submissionQueueDelayMs,
  });
  async function call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? ADMIN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(server.url + path, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: /metrics, for one
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  }
  return {
    db,
    role: login,
    url: server.url,
    call,
    async close() {
      await server.close();
      await login?.drop();
      await db.drop();
    },
  };
}

/** Asserts a problem+json response with this status and the RFC 9457 members. */
export function expectProblem(reply: Reply, status: number): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    detail: expect.any(String),
  });
  expect(reply.body.detail.length).toBeGreaterThan(0);
}
