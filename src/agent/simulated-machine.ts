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
}

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
 */
export class SimulatedMachine {
  private readonly tasks = new Map<number, LocalTask>();
  /** Undelivered reports, the latest per task, in order. */
  private readonly reports = new Map<number, { state: ReportedState; reason?: string }>();
  private etag: string | undefined;
  private lastHeartbeat = 0;
  private timer: NodeJS.Timeout | undefined;
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
    let lastFailure = "";
    const round = async () => {
      try {
        await this.round();
        lastFailure = "";
      } catch (error) {
        // Said once per kind of failure, not every round of an outage.
        const failure = String((error as Error).message);
        if (failure !== lastFailure)
          this.logger.warn({ machine: this.name, err: error }, "agent round failed");
        lastFailure = failure;
      }
      if (!this.stopped) this.timer = setTimeout(round, this.options.pollMs);
    };
    void round();
  }

  /** Stops polling and the local tasks' timers; sends what it still owes once, best effort. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const task of this.tasks.values()) clearTimeout(task.timer);
    await this.flushReports().catch(() => {});
  }

  /** Task ids running here (not finished). */
  running(): number[] {
    return [...this.tasks].filter(([, t]) => !t.finished).map(([id]) => id);
  }

  private async round(): Promise<void> {
    if (Date.now() - this.lastHeartbeat >= this.options.heartbeatMs) await this.heartbeat();
    await this.flushReports();
    const fetched = await this.client.claims(this.name, this.etag);
    if (fetched !== "unchanged") {
      this.etag = fetched.etag;
      this.reconcile(fetched.claims.tasks);
    }
    await this.flushReports();
  }

  private async heartbeat(): Promise<void> {
    const reply = await this.client.heartbeat(this.name, this.running());
    this.lastHeartbeat = Date.now();
    if (reply.cameBack) this.logger.info({ machine: this.name, state: reply.state }, "machine is back");
    for (const id of reply.stop) this.stopTask(id, "no longer claimed here");
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

  private async flushReports(): Promise<void> {
    for (const [id, report] of [...this.reports]) {
      try {
        await this.client.report(this.name, id, report.state, report.reason);
      } catch (error) {
        // Not refused for being someone else's task (an outage, a bad token): sent again next round.
        if (!(error instanceof AgentRefusal) || (error.status !== 404 && error.status !== 409)) throw error;
        this.logger.debug({ machine: this.name, task: id, detail: error.message }, "report refused");
        this.stopTask(id, error.message);
        continue;
      }
      if (this.reports.get(id) === report) this.reports.delete(id);
      if (report.state !== "running") this.tasks.delete(id);
    }
  }
}
