/**
 * Least time between the starts of two evaluations of a cell by one worker. At 200 jobs/s on two
 * cores, 15–30 ms took PostgreSQL's CPU per job from 5.4 to 4.0–4.8 ms (bench latency, session
 * 16), for a few ms more at light load (p50 at 50 jobs/s: 10.5 → 17.9 ms with 20).
 */
export const DEFAULT_MIN_INTERVAL_MS = 20;

/**
 * Runs evaluations of one cell when woken: at most `concurrency` at once, and never misses a
 * wake-up — one that arrives while every slot is busy marks the cell dirty, and a loop that finds
 * the queue empty looks once more before it ends. Wake-ups that arrive together cost one
 * evaluation, not one each.
 *
 * A wake-up that finds every slot busy and none of them ending within `stalled.afterMs` calls
 * `stalled.onStall`: the worker that leads its scheduler's workers then hands the work to the others
 * rather than keep it waiting behind a slow evaluation (a re-plan after an analyze, a lock wait).
 * Busy slots that end in time are the common case under load, and waiting for them costs less
 * than a second worker leasing and racing for the same machines.
 *
 * Evaluations start at least `minIntervalMs` apart (Slurm's sched_min_interval). Idle, a wake-up
 * is served at once; under load, the wake-ups that arrive meanwhile are served by one evaluation:
 * a lease and a commit cost about the same for two jobs as for eight, and at 200 jobs/s the
 * evaluations ran back to back with two or three jobs each.
 */
export class CellLoops {
  private running = 0;
  private dirty = false;
  private stopped = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly idle: (() => void)[] = [];
  /** When the last evaluation started (performance.now()). */
  private lastStart = Number.NEGATIVE_INFINITY;
  /** Slots waiting for their turn (minIntervalMs), about to evaluate: not stalled. */
  private pacing = 0;

  constructor(
    private readonly concurrency: number,
    private readonly evaluate: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly stalled?: { afterMs: number; onStall: () => void },
    private readonly minIntervalMs = 0,
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running >= this.concurrency) {
      this.dirty = true;
      if (this.pacing === 0) this.watchForStall();
      return;
    }
    this.running++;
    void this.loop();
  }

  private watchForStall(): void {
    const stalled = this.stalled;
    if (!stalled || this.stallTimer) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (!this.stopped) stalled.onStall();
    }, stalled.afterMs);
    this.stallTimer.unref();
  }

  private async loop(): Promise<void> {
    try {
      do {
        const waitMs = this.lastStart + this.minIntervalMs - performance.now();
        if (waitMs > 0) {
          await this.waitForTurn(waitMs);
          if (this.stopped) break;
        }
        this.lastStart = performance.now();
        this.dirty = false;
        try {
          await this.evaluate();
        } catch (error) {
          // The leases lapse and the reconcile wakes the work again: nothing is lost.
          this.onError(error);
          break;
        } finally {
          // A slot ended: the wake-ups waiting for one are served now (this loop goes round).
          clearTimeout(this.stallTimer);
          this.stallTimer = undefined;
        }
      } while (this.dirty && !this.stopped);
    } finally {
      this.running--;
      if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /** Waits for this slot's turn (minIntervalMs): the wake-ups meanwhile are served by it. */
  private async waitForTurn(ms: number): Promise<void> {
    this.pacing++;
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      this.pacing--;
    }
  }

  /** Takes no new wake-ups and resolves when the evaluations under way have ended. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.stallTimer);
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
