import type { Pool } from "../db/pool.ts";
import { jobSubmitBatch, type Submission, type Submitted } from "../db/queries/job-submit-batch.ts";
import type { LoadShedder } from "./load-shedding.ts";

interface Waiting {
  submission: Submission;
  queuedAt: number;
  resolve(result: Submitted): void;
  reject(error: unknown): void;
}

export interface BatcherOptions {
  /** Jobs per transaction (kept under the 64 subtransaction ids a backend caches). */
  maxBatch: number;
  /**
   * Transactions under way at once; submissions arriving meanwhile wait and go together. Two on
   * the two-core machine the benchmarks run on: at 1,000 jobs/s, four at once split the same jobs
   * into smaller batches that contend for the same cores (PostgreSQL CPU per job 1.92 → 1.57 ms,
   * placed p99 328–439 → 194–212 ms, session 19). A bigger database server may take more
   * (OMEGA_SUBMIT_TRANSACTIONS).
   */
  maxInFlight: number;
  /** Submissions that may wait; beyond that a submission is refused with 503 at once. */
  maxQueued: number;
  /**
   * How long a submission may expect to wait for its transaction. Beyond it a submission is
   * refused at once (503 + Retry-After) rather than queued: the queue's length is no measure of
   * overload on its own — 4,000 queued submissions are 0.2 s of work for a quiet database and a
   * minute for a starved one — so the batcher times its own transactions.
   */
  maxQueueDelayMs: number;
}

const DEFAULTS: BatcherOptions = { maxBatch: 32, maxInFlight: 2, maxQueued: 4_096, maxQueueDelayMs: 1_000 };

/** Weight of the newest transaction in the running mean of transaction times. */
const EWMA_WEIGHT = 0.2;

/**
 * Group commit of job submissions. A submission goes to the database at once when a transaction
 * slot is free — alone, at light load, so it waits for nobody — and otherwise joins the next batch:
 * under load one transaction (one WAL flush, one wake-up per scheduler) carries dozens of jobs,
 * which is what lets the API accept a thousand jobs a second on two cores. Each job is still
 * checked and refused on its own (omega.submit_jobs).
 *
 * Beyond what the database keeps up with, submissions are refused at once instead of queueing
 * into a timeout: a submission whose expected wait (the batches ahead of it × the mean
 * transaction time) exceeds maxQueueDelayMs, and any that has waited twice that long when its turn
 * comes (the estimate was wrong, e.g. the database stalled), gets a 503 with Retry-After. Nothing
 * refused has been written.
 */
export class SubmissionBatcher {
  private readonly queue: Waiting[] = [];
  /** Start times of the transactions under way, by batch number. */
  private readonly inFlight = new Map<number, number>();
  private batches = 0;
  private meanTransactionMs = 10;
  private sweep: NodeJS.Timeout | undefined;
  private readonly options: BatcherOptions;

  constructor(
    private readonly pool: Pool,
    private readonly shedder: LoadShedder,
    options: Partial<BatcherOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  submit(submission: Submission): Promise<Submitted> {
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(this.shedder.refuse("too many submissions are waiting"));
    }
    const expectedWaitMs = this.expectedWaitMs();
    if (expectedWaitMs > this.options.maxQueueDelayMs) {
      return Promise.reject(
        this.shedder.refuse(
          `a submission would wait about ${Math.round(expectedWaitMs)} ms for the database`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ submission, queuedAt: performance.now(), resolve, reject });
      this.flush();
    });
  }

  /**
   * Expected wait of a submission queued now: the batches ahead of it, maxInFlight at a time, each
   * taking the mean time — or longer, when the transactions under way have already run longer (a
   * stalled database is seen before any of them ends).
   */
  private expectedWaitMs(): number {
    if (this.inFlight.size < this.options.maxInFlight) return 0;
    const now = performance.now();
    let transactionMs = this.meanTransactionMs;
    for (const startedAt of this.inFlight.values()) transactionMs = Math.max(transactionMs, now - startedAt);
    const batchesAhead = Math.floor(this.queue.length / this.options.maxBatch) + 1;
    return (batchesAhead / this.options.maxInFlight) * transactionMs;
  }

  /** Wakes up when the oldest waiting submission falls due, in case nothing else happens by then. */
  private armSweep(): void {
    const oldest = this.queue[0];
    if (this.sweep || !oldest) return;
    const dueInMs = oldest.queuedAt + 2 * this.options.maxQueueDelayMs - performance.now();
    this.sweep = setTimeout(
      () => {
        this.sweep = undefined;
        this.flush();
      },
      Math.max(0, dueInMs),
    );
    this.sweep.unref();
  }

  private refuseOverdue(): void {
    const deadline = performance.now() - 2 * this.options.maxQueueDelayMs;
    while (this.queue.length > 0 && (this.queue[0] as Waiting).queuedAt < deadline) {
      (this.queue.shift() as Waiting).reject(
        this.shedder.refuse("the submission waited too long for the database"),
      );
    }
  }

  private flush(): void {
    this.refuseOverdue();
    while (this.inFlight.size < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      const batchNumber = ++this.batches;
      const startedAt = performance.now();
      this.inFlight.set(batchNumber, startedAt);
      jobSubmitBatch(
        this.pool,
        batch.map((w) => w.submission),
      )
        .then(
          (results) =>
            batch.forEach((w, i) => {
              const result = results[i];
              if (result?.ok) w.resolve(result);
              // Shaped as the database's own error, so that it maps to the same HTTP problem.
              else w.reject(Object.assign(new Error(result?.message ?? "no result"), { code: result?.code }));
            }),
          (error: unknown) => {
            for (const w of batch) w.reject(error);
          },
        )
        .finally(() => {
          const elapsedMs = performance.now() - startedAt;
          this.meanTransactionMs += EWMA_WEIGHT * (elapsedMs - this.meanTransactionMs);
          this.inFlight.delete(batchNumber);
          this.flush();
        });
    }
    this.armSweep();
  }
}
