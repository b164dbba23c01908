/**
 * Large submissions one at a time per API process (issue 17, M1). Inserting a 100,000-task job is
 * seconds of one core and tens of MB of WAL; four at once took both cores of the test machine and
 * made every other tenant's commit wait behind their WAL, turning a 1-task submit from 0.05 s into
 * 4.6 s. Queued here — in memory, holding no database connection while they wait — large jobs go
 * one after the other, and small submissions never queue behind them.
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
