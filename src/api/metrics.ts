/** HTTP metrics of the API, in the process's registry (src/metrics/registry.ts), served at GET /metrics. */
import type { RequestHandler } from "express";
import { Counter, Histogram } from "prom-client";
import { registry } from "../metrics/registry.ts";

export { registry };

const requests = new Counter({
  name: "http_requests_total",
  help: "HTTP requests answered, by method, route pattern and status",
  labelNames: ["method", "route", "status"] as const,
  registers: [registry],
});

const duration = new Histogram({
  name: "http_request_duration_seconds",
  help: "Time to answer an HTTP request, by method, route pattern and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** The route pattern, not the path: label values stay few whatever ids clients send. */
function routeOf(req: Parameters<RequestHandler>[0]): string {
  const route = req.route as { path?: unknown } | undefined;
  return typeof route?.path === "string" ? req.baseUrl + route.path : "unmatched";
}

/** Counts and times every request once its response is finished. */
export const httpMetrics: RequestHandler = (req, res, next) => {
  const end = duration.startTimer();
  res.on("finish", () => {
    const labels = { method: req.method, route: routeOf(req), status: String(res.statusCode) };
    requests.inc(labels);
    end(labels);
  });
  next();
};
