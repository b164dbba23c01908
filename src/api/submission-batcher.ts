import type { Pool } from "../db/pool.ts";
import { jobSubmitBatch, type Submission } from "../db/queries/job-submit-batch.ts";
import type { LoadShedder } from "./load-shedding.ts";

interface Waiting {
  submission: Submission;
  resolve(result: { id: number; created: boolean }): void;
  reject(error: unknown): void;
}

export interface BatcherOptions {
  /** Jobs per transaction (kept under the 64 subtransaction ids a backend caches). */
  maxBatch: number;
  /** Transactions under way at once; submissions arriving meanwhile wait and go together. */
  maxInFlight: number;
  /** Submissions that may wait; beyond that a submission is refused with 503 at once. */
  maxQueued: number;
}

const DEFAULTS: BatcherOptions = { maxBatch: 32, maxInFlight: 4, maxQueued: 4_096 };

/**
 * Group commit of job submissions. A submission goes to the database at once when a transaction
 * slot is free — alone, at light load, so it waits for nobody — and otherwise joins the next batch:
 * under load one transaction (one WAL flush, one wake-up per scheduler) carries dozens of jobs,
 * which is what lets the API accept a thousand jobs a second on two cores. Each job is still
 * checked and refused on its own (omega.submit_jobs).
 */
export class SubmissionBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private readonly options: BatcherOptions;

  constructor(
    private readonly pool: Pool,
    private readonly shedder: LoadShedder,
    options: Partial<BatcherOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  submit(submission: Submission): Promise<{ id: number; created: boolean }> {
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(this.shedder.refuse("too many submissions are waiting"));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ submission, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      jobSubmitBatch(
        this.pool,
        batch.map((w) => w.submission),
      )
        .then(
          (results) =>
            batch.forEach((w, i) => {
              const result = results[i];
              if (result?.ok) w.resolve({ id: result.id, created: result.created });
              // Shaped as the database's own error, so that it maps to the same HTTP problem.
              else w.reject(Object.assign(new Error(result?.message ?? "no result"), { code: result?.code }));
            }),
          (error: unknown) => {
            for (const w of batch) w.reject(error);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.flush();
        });
    }
  }
}
