/**
 * An HTTP client of the machine agent API (src/api/routes/agents.ts), for `omega agent`. One
 * attempt per call: the agent's loops retry on their next tick, which is the backoff.
 */
import type { ReportedState } from "../domain/agent-bodies.ts";
import type { MachineBodyInput } from "../domain/job-spec.ts";

const TIMEOUT_MS = 10_000;

export interface ClaimedTask {
  taskId: number;
  state: "placed" | "running";
  runtime: { minMs: number; maxMs: number } | null;
}

export interface Claims {
  state: string;
  tasks: ClaimedTask[];
}

/** A refusal from the API (4xx): the request will not succeed by being repeated. */
export class AgentRefusal extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
    this.name = "AgentRefusal";
  }
}

export interface AgentClient {
  register(machine: string, body: MachineBodyInput): Promise<void>;
  heartbeat(
    machine: string,
    running: number[],
  ): Promise<{ state: string; cameBack: boolean; stop: number[] }>;
  /** The machine's claims, or "unchanged" when they still match `etag`. */
  claims(machine: string, etag?: string): Promise<{ claims: Claims; etag: string } | "unchanged">;
  report(machine: string, taskId: number, state: ReportedState, reason?: string): Promise<void>;
  /** Many reports in one call; each result is 200 or the status that refused it. */
  reportMany(
    machine: string,
    reports: { task: number; state: ReportedState; reason?: string }[],
  ): Promise<{ taskId: number; status: number; detail: string | null }[]>;
}

export function agentClient(options: { url: string; token: string; cell: string }): AgentClient {
  const base = `${options.url.replace(/\/$/, "")}/v1/cells/${encodeURIComponent(options.cell)}/machines/`;

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (response.status === 304) return { response, body: undefined };
    const text = await response.text();
    if (response.status >= 400 && response.status < 500) {
      const detail = (() => {
        try {
          return String(JSON.parse(text).detail ?? text);
        } catch {
          return text;
        }
      })();
      throw new AgentRefusal(response.status, detail);
    }
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
    return { response, body: text ? JSON.parse(text) : undefined };
  }

  const machinePath = (machine: string) => encodeURIComponent(machine);
  return {
    async register(machine, body) {
      await call("PUT", machinePath(machine), body);
    },
    async heartbeat(machine, running) {
      const { body } = await call("POST", `${machinePath(machine)}/heartbeat`, { running });
      return body;
    },
    async claims(machine, etag) {
      const { response, body } = await call(
        "GET",
        `${machinePath(machine)}/claims`,
        undefined,
        etag ? { "if-none-match": etag } : {},
      );
      if (response.status === 304) return "unchanged";
      return { claims: body, etag: response.headers.get("etag") ?? "" };
    },
    async report(machine, taskId, state, reason) {
      await call("POST", `${machinePath(machine)}/tasks/${taskId}`, reason ? { state, reason } : { state });
    },
    async reportMany(machine, reports) {
      const { body } = await call("POST", `${machinePath(machine)}/reports`, { reports });
      return body.results;
    },
  };
}
