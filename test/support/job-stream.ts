import { randomUUID } from "node:crypto";

/**
 * A client of the HTTP API that sends a stream of jobs, each with an Idempotency-Key, and retries
 * each one with the same key until it is answered (a 5xx or no answer at all may or may not have
 * created the job: the key makes the retry safe). Remembers when each job was acknowledged, so a
 * drill can ask which acknowledged jobs must exist.
 */
export interface Acknowledged {
  id: number;
  /** Date.now() when the 201 arrived. */
  at: number;
  /** The job's cell. */
  cell: string;
}

export interface JobStream {
  /** Idempotency-Key → the job that answered. */
  acknowledged: Map<string, Acknowledged>;
  /** Requests that got no usable answer and were sent again. */
  retries(): number;
  /** Stops sending new jobs and waits for those in flight to be answered. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function startJobStream(options: {
  baseUrl: string;
  token: string;
  /** The cell of each new job. (Default: "east".) */
  cell?: () => string;
  /** A gap between new jobs. (Default: 100 ms.) */
  everyMs?: number;
  /** Jobs in flight at most. (Default: 6.) */
  inFlight?: number;
  /** Give up on one job after this long without an answer. (Default: 120 s.) */
  giveUpMs?: number;
}): JobStream {
  const acknowledged = new Map<string, Acknowledged>();
  let retries = 0;
  let stopping = false;

  async function send(body: unknown, key: string): Promise<{ id: number } | undefined> {
    try {
      const response = await fetch(`${options.baseUrl}/v1/jobs`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.token}`,
          "content-type": "application/json",
          "idempotency-key": key,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      const text = await response.text();
      if (response.status >= 500 || response.status === 429) return undefined;
      if (response.status >= 300) throw new Error(`POST /v1/jobs: ${response.status} ${text}`);
      return JSON.parse(text);
    } catch (error) {
      if ((error as Error).message.startsWith("POST")) throw error;
      return undefined; // no answer: the job may or may not exist; the key makes the retry safe
    }
  }

  async function submitOne(): Promise<void> {
    const key = randomUUID();
    const cell = options.cell?.() ?? "east";
    const body = {
      cell,
      tasks: 1 + Math.floor(Math.random() * 2),
      resources: { cpu: Math.random() < 0.5 ? "250m" : "500m", memory: "128Mi" },
      runtime: { min: "100ms", max: "600ms" },
      maxRetries: 1,
    };
    const deadline = Date.now() + (options.giveUpMs ?? 120_000);
    for (;;) {
      const job = await send(body, key);
      if (job) {
        acknowledged.set(key, { id: job.id, at: Date.now(), cell });
        return;
      }
      if (Date.now() > deadline) throw new Error(`job ${key} was never acknowledged`);
      retries++;
      await sleep(200);
    }
  }

  const loop = (async () => {
    const pending = new Set<Promise<void>>();
    const failures: unknown[] = [];
    while (!stopping) {
      const work = submitOne().catch((error) => {
        failures.push(error);
      });
      pending.add(work);
      void work.finally(() => pending.delete(work));
      if (pending.size >= (options.inFlight ?? 6)) await Promise.race(pending);
      await sleep(options.everyMs ?? 100);
    }
    await Promise.all(pending);
    if (failures.length > 0) throw failures[0];
  })();

  return {
    acknowledged,
    retries: () => retries,
    stop() {
      stopping = true;
      return loop;
    },
  };
}
