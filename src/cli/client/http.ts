/**
 * The client CLI's connection to an omega API, configured as nomad's and kubectl's are: the
 * address in OMEGA_ADDR (Default: http://localhost:8080) and the bearer token in OMEGA_TOKEN,
 * or --addr and --token on any command.
 */
export interface ClientOptions {
  addr?: string;
  token?: string;
  json?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Client {
  addr: string;
  get<T>(path: string): Promise<T>;
  send<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** The raw response of a streaming GET (server-sent events). */
  stream(path: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<Response>;
}

export function clientFrom(options: ClientOptions): Client {
  const addr = (options.addr ?? process.env.OMEGA_ADDR ?? "http://localhost:8080").replace(/\/+$/, "");
  const token = options.token ?? process.env.OMEGA_TOKEN;
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

  async function call(method: string, path: string, body?: unknown, extra?: Record<string, string>) {
    let response: Response;
    try {
      response = await fetch(addr + path, {
        method,
        headers: headers(body === undefined ? extra : { "content-type": "application/json", ...extra }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      // undici puts the system error in `cause` (an AggregateError when several addresses failed).
      const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
      const code = cause?.code ?? cause?.errors?.[0]?.code;
      const why = code === "ECONNREFUSED" ? "connection refused" : (code ?? (error as Error).message);
      throw new Error(
        `cannot reach the omega API at ${addr} (${why}) — is it running? set OMEGA_ADDR or --addr`,
      );
    }
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  return {
    addr,
    async get<T>(path: string) {
      return (await (await call("GET", path)).json()) as T;
    },
    async send<T>(method: string, path: string, body?: unknown) {
      const response = await call(method, path, body);
      const text = await response.text();
      return (text ? JSON.parse(text) : {}) as T;
    },
    async stream(path, extra = {}, signal) {
      try {
        const response = await fetch(addr + path, {
          headers: headers({ accept: "text/event-stream", ...extra }),
          signal,
        });
        if (!response.ok) throw await problemOf(response);
        return response;
      } catch (error) {
        if (error instanceof ApiError || (error as Error).name === "AbortError") throw error;
        throw new Error(`cannot reach the omega API at ${addr} — is it running? set OMEGA_ADDR or --addr`);
      }
    },
  };
}

/** A problem+json answer as one line: "422 Unprocessable Entity: … (tasks: must be …)". */
async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = `${response.status} ${response.statusText}`;
  try {
    const p = JSON.parse(text) as {
      title?: string;
      detail?: string;
      errors?: { path: string; message: string }[];
    };
    message = `${response.status} ${p.title ?? response.statusText}: ${p.detail ?? ""}`;
    if (p.errors?.length)
      message += ` (${p.errors.map((e) => `${e.path || "body"}: ${e.message}`).join("; ")})`;
  } catch {
    if (text) message += `: ${text.slice(0, 200)}`;
  }
  if (response.status === 401) message += " — set OMEGA_TOKEN or --token";
  return new ApiError(response.status, message);
}
