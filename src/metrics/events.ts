/**
 * Metrics the API derives from the event feed (src/events/feed.ts), which reads every event once
 * per API process as it commits: no extra query. With several API replicas each counts every
 * event: aggregate these with max(), not sum(), across replicas.
 */
import { Counter, Histogram } from "prom-client";
import type { ClusterEvent } from "../db/queries/event-list.ts";
import { registry } from "./registry.ts";

const events = new Counter({
  name: "omega_events_total",
  help: "Job and task events committed (omega.events), by cell and kind",
  labelNames: ["cell", "kind"] as const,
  registers: [registry],
});

const submitToPlaced = new Histogram({
  name: "omega_task_scheduling_duration_seconds",
  help: "Time from a job's submission to the placement of each of its tasks (kube-scheduler's pod_scheduling_sli_duration_seconds), by cell",
  labelNames: ["cell"] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
  registers: [registry],
});

export function observeEvent(event: ClusterEvent): void {
  events.inc({ cell: event.cell, kind: event.kind });
  if (event.kind === "placed" && event.taskId !== null) {
    const seconds = (event.at.getTime() - event.jobCreatedAt.getTime()) / 1000;
    submitToPlaced.observe({ cell: event.cell }, Math.max(0, seconds));
  }
}
