import type { Pool } from "../db/pool.ts";
import { jobSubmitBatch, type Submission, type Submitted } from "../db/queries/job-submit-batch.ts";

/**
 * Large submissions one at a time per API process (issue 17, M1). Inserting a 100,000-task job is
 * seconds of one core and tens of MB of WAL; four at once took both cores of the test machine and
 * made every other tenant's commit wait behind their WAL, turning a 1-task submit from 0.05 s into
 * 4.6 s. Queued here — in memory, holding no database connection while they wait — large jobs go
 * one after the other, each in a transaction of its own (never in a group commit with small ones),
 * and small submissions never queue behind them.
 */
export class BulkGate {
  #running = false;
  readonly #waiting: (() => void)[] = [];

  /** Runs `work` when no other large submission of this process runs. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running = true;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running = false;
    }
  }
}

/** A job of more tasks than this is a large submission. */
export const BULK_TASKS = 1_000;

/** One submission in its own transaction; a refusal is thrown shaped as the database's error. */
export async function submitAlone(pool: Pool, submission: Submission): Promise<Submitted> {
  const [result] = await jobSubmitBatch(pool, [submission]);
  if (!result?.ok) {
    throw Object.assign(new Error(result?.message ?? "the submission failed"), { code: result?.code });
  }
  return result;
}
