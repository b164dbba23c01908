import type { ReportedState } from "../domain/agent-bodies.ts";
import type { Logger } from "../log.ts";
import { type AgentClient, AgentRefusal, type ClaimedTask } from "./agent-client.ts";

export interface SimulationOptions {
  /** How often the machine heartbeats. */
  heartbeatMs: number;
  /** How often it polls its claims (a conditional GET: unchanged claims cost one row). */
  pollMs: number;
  /** The share of tasks that fail ("exit 1") instead of succeeding. */
  failRate: number;
  random?: () => number;
  /** How long a stop may spend sending the reports still owed. (Default: 5 s.) */
  drainMs?: number;
}

/** Reports per call: omega.report_tasks takes up to 1000; smaller calls keep each transaction short. */
export const REPORT_BATCH = 500;
/** Task ids per heartbeat: a machine running more sends them over several heartbeats. */
export const HEARTBEAT_PAGE = 5000;
const DEFAULT_DRAIN_MS = 5_000;

interface LocalTask {
  timer: NodeJS.Timeout | undefined;
  /** Finished here; kept until its report is delivered, so that a poll does not start it again. */
  finished: boolean;
}

/**
 * One simulated machine, run like a real agent would run it: heartbeat, poll the claims, start what
 * is claimed and not yet running (report `running`, then `succeeded` or `failed` after a runtime
 * drawn from the job's `runtime`; a task without one runs until stopped), and stop whatever is no
 * longer claimed here — moved away while the machine was silent, cancelled, preempted. Reports that
 * could not be delivered (the API or its database is down) are sent again on the next round; a
 * refused one (409: the task is not ours any more) is dropped and the task stopped.
 *
 * The heartbeat has a loop of its own, so that no amount of reporting can delay it past the
 * lost-machine timeout (issue 17: thousands of reports sent one by one before the next heartbeat
 * took a whole cell down); reports go in batches of REPORT_BATCH, and the running list in pages of
 * HEARTBEAT_PAGE.
 */
export class SimulatedMachine {
  private readonly tasks = new Map<number, LocalTask>();
  /** Undelivered reports, the latest per task, in order. */
  private readonly reports = new Map<number, { state: ReportedState; reason?: string }>();
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly random: () => number;

  constructor(
    readonly name: string,
    private readonly client: AgentClient,
    private readonly options: SimulationOptions,
    private readonly logger: Logger,
  ) {
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.loop(
      "round",
      () => this.round(),
      this.options.pollMs,
      (t) => {
        this.timer = t;
      },
    );
    this.loop(
      "heartbeat",
      () => this.heartbeat(),
      this.options.heartbeatMs,
      (t) => {
        this.heartbeatTimer = t;
      },
    );
  }

  /** Runs `work` now and then `everyMs` after each run ends, until stopped. */
  private loop(what: string, work: () => Promise<void>, everyMs: number, keep: (t: NodeJS.Timeout) => void) {
    let lastFailure = "";
    const run = async () => {
      try {
        await work();
        lastFailure = "";
      } catch (error) {
        // Said once per kind of failure, not every round of an outage.
        const failure = String((error as Error).message);
        if (failure !== lastFailure)
          this.logger.warn({ machine: this.name, err: error }, `agent ${what} failed`);
        lastFailure = failure;
      }
      if (!this.stopped) keep(setTimeout(run, everyMs));
    };
    void run();
  }

  /**
   * Stops polling, heartbeating and the local tasks' timers; sends what it still owes, in batches,
   * for at most `drainMs` (a SIGTERM must end: what is left is sent again by the next agent, or
   * found by the lost-machine check).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.heartbeatTimer);
    for (const task of this.tasks.values()) clearTimeout(task.timer);
    const deadline = Date.now() + (this.options.drainMs ?? DEFAULT_DRAIN_MS);
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timeout = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    await Promise.race([this.flushReports(deadline).catch(() => {}), expired]);
    clearTimeout(timeout);
  }

  /** Task ids running here (not finished). */
  running(): number[] {
    return [...this.tasks].filter(([, t]) => !t.finished).map(([id]) => id);
  }

  private async round(): Promise<void> {
    await this.flushReports();
    const fetched = await this.client.claims(this.name, this.etag);
    if (fetched !== "unchanged") {
      this.etag = fetched.etag;
      this.reconcile(fetched.claims.tasks);
    }
    await this.flushReports();
  }

  /** One heartbeat, its running list in pages (the first page alone says the machine is alive). */
  private async heartbeat(): Promise<void> {
    const running = this.running();
    for (let from = 0; from === 0 || from < running.length; from += HEARTBEAT_PAGE) {
      const reply = await this.client.heartbeat(this.name, running.slice(from, from + HEARTBEAT_PAGE));
      if (reply.cameBack) this.logger.info({ machine: this.name, state: reply.state }, "machine is back");
      for (const id of reply.stop) this.stopTask(id, "no longer claimed here");
    }
  }

  private reconcile(claimed: ClaimedTask[]): void {
    const ids = new Set(claimed.map((t) => t.taskId));
    for (const [id, task] of this.tasks) {
      if (!ids.has(id) && !task.finished) this.stopTask(id, "no longer claimed here");
    }
    for (const t of claimed) {
      const local = this.tasks.get(t.taskId);
      if (!local) this.startTask(t);
      // Placed here again while it still ran here (lost, then back on the same machine): say so.
      else if (t.state === "placed" && !local.finished && !this.reports.has(t.taskId))
        this.reports.set(t.taskId, { state: "running" });
    }
  }

  private startTask(t: ClaimedTask): void {
    const local: LocalTask = { timer: undefined, finished: false };
    this.tasks.set(t.taskId, local);
    this.reports.set(t.taskId, { state: "running" });
    if (!t.runtime) return;
    const ms = t.runtime.minMs + this.random() * (t.runtime.maxMs - t.runtime.minMs);
    local.timer = setTimeout(() => {
      local.finished = true;
      const failed = this.random() < this.options.failRate;
      this.reports.set(t.taskId, failed ? { state: "failed", reason: "exit 1" } : { state: "succeeded" });
    }, ms);
  }

  private stopTask(id: number, why: string): void {
    const task = this.tasks.get(id);
    if (!task) return;
    clearTimeout(task.timer);
    this.tasks.delete(id);
    this.reports.delete(id);
    this.logger.debug({ machine: this.name, task: id, why }, "task stopped");
  }

  /** Sends the reports owed, REPORT_BATCH per call, until none is left or `deadline` passes. */
  private async flushReports(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const owed = [...this.reports];
    for (let from = 0; from < owed.length && Date.now() < deadline; from += REPORT_BATCH) {
      const batch = owed.slice(from, from + REPORT_BATCH);
      const results = await this.client.reportMany(
        this.name,
        batch.map(([task, r]) =>
          r.reason ? { task, state: r.state, reason: r.reason } : { task, state: r.state },
        ),
      );
      for (const [i, [id, report]] of batch.entries()) {
        const result = results[i];
        if (!result) continue;
        if (result.status === 404 || result.status === 409) {
          // Not this machine's task any more (moved away, cancelled): stop it and forget it.
          this.logger.debug({ machine: this.name, task: id, detail: result.detail }, "report refused");
          this.stopTask(id, result.detail ?? "refused");
          continue;
        }
        if (result.status !== 200) throw new AgentRefusal(result.status, result.detail ?? "report refused");
        if (this.reports.get(id) === report) this.reports.delete(id);
        if (report.state !== "running") this.tasks.delete(id);
      }
    }
  }
}
