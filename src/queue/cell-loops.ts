/**
 * Runs evaluations of one cell when woken: at most `concurrency` at once, and never misses a
 * wake-up — one that arrives while every slot is busy marks the cell dirty, and a loop that finds
 * the queue empty looks once more before it ends. Wake-ups that arrive together cost one
 * evaluation, not one each.
 */
export class CellLoops {
  private running = 0;
  private dirty = false;
  private stopped = false;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly evaluate: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running >= this.concurrency) {
      this.dirty = true;
      return;
    }
    this.running++;
    void this.loop();
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
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
