/**
 * The process's Prometheus registry: the API serves it at GET /metrics, a worker at its
 * --metrics-port. Everything in one process (the API, and the workers' hooks) registers here, so
 * one scrape sees it all.
 */
import { collectDefaultMetrics, Registry } from "prom-client";

export const registry = new Registry();
collectDefaultMetrics({ register: registry });
// prom-client's three gauges named *_total break Prometheus' naming rule (promtool check metrics
// fails on them); the same numbers are exported by type as nodejs_active_{handles,requests,resources}.
for (const name of [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
])
  registry.removeSingleMetric(name);
