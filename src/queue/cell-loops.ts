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
 */
export class CellLoops {
  private running = 0;
  private dirty = false;
  private stopped = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly evaluate: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly stalled?: { afterMs: number; onStall: () => void },
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running >= this.concurrency) {
      this.dirty = true;
      this.watchForStall();
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

  /** Takes no new wake-ups and resolves when the evaluations under way have ended. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.stallTimer);
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
