/** The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json. */
import { schemas } from "./openapi-schemas.ts";

type Operation = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const listOf = (key: string, item: string) => ({
  type: "object",
  properties: { [key]: { type: "array", items: ref(item) } },
  required: [key],
});

function ok(description: string, schema?: unknown, status = "200"): Record<string, unknown> {
  return { [status]: schema ? { description, content: json(schema) } : { description } };
}

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/${s}` }]));

const pathParam = (name: string, description: string, schema: unknown = { type: "string" }) => ({
  name,
  in: "path",
  required: true,
  description,
  schema,
});
const queryParam = (name: string, description: string, schema: unknown = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});

const cell = pathParam("cell", "cell name");
const machine = pathParam("name", "machine name");
const jobId = pathParam("id", "job id", { type: "integer", minimum: 1 });
const taskId = pathParam("task", "task id", { type: "integer", minimum: 1 });

function op(
  summary: string,
  who: "any" | "admin" | "tenant" | "agent" | "none",
  extra: Operation,
): Operation {
  const security = who === "none" ? { security: [] } : {};
  return {
    summary:
      who === "none" || who === "any"
        ? summary
        : who === "agent"
          ? `${summary} (the cell's agent token, or admin)`
          : `${summary} (${who} token)`,
    // Which token the endpoint takes, for clients and for the tenancy test that walks every endpoint.
    "x-omega-auth": who,
    ...security,
    ...extra,
  };
}

const body = (schema: string) => ({ required: true, content: json(ref(schema)) });

const paths = {
  "/v1/cells": {
    get: op("Cells with capacity and usage totals", "any", {
      responses: { ...ok("the cells", listOf("cells", "Cell")), ...errors(401) },
    }),
    post: op("Create a cell", "admin", {
      requestBody: body("CellBody"),
      responses: { ...ok("created", ref("Cell"), "201"), ...errors(400, 401, 403, 409, 413, 415, 422) },
    }),
  },
  "/v1/cells/{cell}": {
    get: op("One cell", "any", {
      parameters: [cell],
      responses: { ...ok("the cell", ref("Cell")), ...errors(401, 404) },
    }),
  },
  "/v1/cells/{cell}/capacity": {
    get: op("How many more tasks of a shape fit now, in total and per up machine", "any", {
      parameters: [
        cell,
        ...["cpu", "memory", "gpu", "disk"].map((d) =>
          queryParam(d, `${d} request, a Kubernetes quantity ("2", "4Gi")`),
        ),
        queryParam(
          "constraints",
          "a job spec's constraints as URL-encoded JSON: selector, affinity, tolerations, maxPerMachine (a per-machine cap)",
        ),
      ],
      responses: { ...ok("the fit", ref("Capacity")), ...errors(401, 404, 422) },
    }),
  },
  "/v1/cells/{cell}/machines": {
    get: op("Machines with capacity, usage and state", "any", {
      parameters: [
        cell,
        queryParam("after", "cursor: the `next` of the previous page (a machine name)"),
        queryParam("limit", "page size (Default: 1000)", { type: "integer", minimum: 1, maximum: 1000 }),
      ],
      responses: {
        ...ok("a page of machines, by name", {
          type: "object",
          properties: {
            machines: { type: "array", items: ref("Machine") },
            next: {
              type: ["string", "null"],
              description: "Pass as ?after= for the next page; null on the last.",
            },
          },
          required: ["machines", "next"],
        }),
        ...errors(401, 404, 422),
      },
    }),
  },
  "/v1/cells/{cell}/machines/{name}": {
    put: op("Register or update a machine (idempotent)", "agent", {
      parameters: [cell, machine],
      requestBody: body("MachineBody"),
      responses: {
        ...ok("updated (or unchanged)", ref("Machine")),
        ...ok("registered", ref("Machine"), "201"),
        "409": problem("the new capacity is below what the machine's claims use"),
        ...errors(400, 401, 403, 404, 413, 415, 422),
      },
    }),
    delete: op("Remove a machine; its tasks return to pending", "admin", {
      parameters: [cell, machine],
      responses: { "204": { description: "removed" }, ...errors(401, 403, 404, 409) },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/drain": {
    post: op("Stop new placements on a machine (what runs there stays)", "admin", {
      parameters: [cell, machine],
      responses: { ...ok("draining", ref("Machine")), ...errors(401, 403, 404) },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/undrain": {
    post: op("Take new placements on a machine again", "admin", {
      parameters: [cell, machine],
      responses: { ...ok("up", ref("Machine")), ...errors(401, 403, 404) },
    }),
  },
  "/v1/cells/{cell}/agent-token": {
    post: op("Issue the cell's agent token; the previous one stops working", "admin", {
      parameters: [cell],
      responses: { ...ok("the new token, shown once", ref("AgentToken")), ...errors(401, 403, 404) },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/heartbeat": {
    post: op("Heartbeat: the machine is alive; a lost machine comes back; which tasks to stop", "agent", {
      parameters: [cell, machine],
      requestBody: body("HeartbeatBody"),
      responses: {
        ...ok("the machine's state", ref("Heartbeat")),
        ...errors(400, 401, 403, 404, 413, 415, 422),
      },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/claims": {
    get: op("The tasks the machine should run; stop any other. Conditional with If-None-Match", "agent", {
      parameters: [
        cell,
        machine,
        { name: "If-None-Match", in: "header", required: false, schema: { type: "string" } },
      ],
      responses: {
        "200": {
          description: "the claims",
          headers: { ETag: { schema: { type: "string" } } },
          content: json(ref("MachineClaims")),
        },
        "304": { description: "unchanged since the ETag sent in If-None-Match" },
        ...errors(401, 403, 404),
      },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/reports": {
    post: op("Report many tasks of the machine at once (at most 1000); each result stands alone", "agent", {
      parameters: [cell, machine],
      requestBody: body("ReportsBody"),
      responses: {
        ...ok("one result per report, in order", ref("TaskReports")),
        ...errors(400, 401, 403, 404, 413, 415, 422),
      },
    }),
  },
  "/v1/cells/{cell}/quota-policy": {
    get: op("What a missing quota means in the cell, per band", "any", {
      parameters: [cell],
      responses: { ...ok("the policy", ref("QuotaPolicy")), ...errors(401, 404) },
    }),
    put: op("Set what a missing quota means in the cell: unlimited or none, per band", "admin", {
      parameters: [cell],
      requestBody: { required: true, content: json({ type: "object" }) },
      responses: { ...ok("the policy", ref("QuotaPolicy")), ...errors(400, 401, 403, 404, 413, 415, 422) },
    }),
  },
  "/v1/cells/{cell}/machines/{name}/tasks/{task}": {
    post: op("Report a task of the machine running, succeeded or failed", "agent", {
      parameters: [cell, machine, taskId],
      requestBody: body("TaskReportBody"),
      responses: {
        ...ok("the task and its job after the report", ref("TaskReport")),
        "409": problem("the task is not on this machine (stop it), or the transition goes backwards"),
        ...errors(400, 401, 403, 404, 413, 415, 422),
      },
    }),
  },
  "/v1/tenants": {
    get: op("Tenants", "admin", {
      responses: { ...ok("the tenants", listOf("tenants", "Tenant")), ...errors(401, 403) },
    }),
    post: op("Create a tenant; the response holds its token, shown once", "admin", {
      requestBody: body("TenantBody"),
      responses: {
        ...ok("created", ref("TenantToken"), "201"),
        ...errors(400, 401, 403, 409, 413, 415, 422),
      },
    }),
  },
  "/v1/tenants/{name}/limits": {
    get: op("A tenant's rights and admission limits (the admin, or the tenant itself)", "any", {
      parameters: [pathParam("name", "tenant name")],
      responses: { ...ok("the limits", ref("TenantLimits")), ...errors(401, 404) },
    }),
    put: op("Set a tenant's rights and admission limits (fields left out keep their value)", "admin", {
      parameters: [pathParam("name", "tenant name")],
      requestBody: { required: true, content: json({ type: "object" }) },
      responses: { ...ok("the limits", ref("TenantLimits")), ...errors(400, 401, 403, 404, 413, 415, 422) },
    }),
  },
  "/v1/tenants/{name}/token": {
    post: op("Replace a tenant's token; the old one stops working", "admin", {
      parameters: [pathParam("name", "tenant name")],
      responses: { ...ok("the new token, shown once", ref("TenantToken")), ...errors(401, 403, 404) },
    }),
  },
  "/v1/quotas": {
    get: op("Quota limits and usage (a tenant sees its own)", "any", {
      responses: { ...ok("the quotas", listOf("quotas", "Quota")), ...errors(401) },
    }),
  },
  "/v1/quotas/{tenant}/{cell}/{band}": {
    put: op("Set a quota", "admin", {
      parameters: [
        pathParam("tenant", "tenant name"),
        cell,
        pathParam("band", "priority band", { enum: ["batch", "production"] }),
      ],
      requestBody: body("QuotaBody"),
      responses: {
        ...ok("updated", ref("Quota")),
        ...ok("created", ref("Quota"), "201"),
        "409": problem("the limit is below what the tenant's claims already use"),
        ...errors(400, 401, 403, 404, 413, 415, 422),
      },
    }),
  },
  "/v1/jobs": {
    get: op("List jobs in id order (a tenant sees its own)", "any", {
      parameters: [
        queryParam("state", "job state", {
          enum: ["pending", "placed", "running", "succeeded", "failed", "cancelled"],
        }),
        queryParam("cell", "cell name"),
        queryParam("tenant", "tenant name"),
        queryParam("limit", "page size (Default: 100)", { type: "integer", minimum: 1, maximum: 1000 }),
        queryParam("after", "cursor: the `next` of the previous page", { type: "integer", minimum: 0 }),
      ],
      responses: { ...ok("a page of jobs", ref("JobPage")), ...errors(401, 422) },
    }),
    post: op("Submit a job", "tenant", {
      parameters: [
        {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description:
            "1-255 visible ASCII characters. A retry with the same key and body returns the same job " +
            "(with Idempotent-Replayed: true); the same key with another body is a 422.",
          schema: { type: "string" },
        },
      ],
      requestBody: body("JobSpec"),
      responses: {
        "201": {
          description: "submitted (or, with a known Idempotency-Key, the job that key submitted)",
          headers: {
            Location: { schema: { type: "string" } },
            "Idempotent-Replayed": { schema: { type: "string", enum: ["true"] } },
          },
          content: json(ref("JobDetail")),
        },
        ...errors(400, 401, 403, 413, 415, 422, 429),
      },
    }),
  },
  "/v1/jobs/{id}": {
    get: op("A job, a page of its placements, and why any task is still pending (owner or admin)", "any", {
      parameters: [
        jobId,
        queryParam("after", "cursor: the `next` of the previous page (a task index)", {
          type: "integer",
          minimum: 0,
        }),
        queryParam("limit", "placements per page (Default: 1000)", {
          type: "integer",
          minimum: 1,
          maximum: 1000,
        }),
      ],
      responses: { ...ok("the job", ref("JobDetail")), ...errors(401, 404, 422) },
    }),
    delete: op("Cancel a job: its claims are released in the same transaction (owner or admin)", "any", {
      parameters: [jobId],
      responses: {
        ...ok("the job's state", {
          type: "object",
          properties: { id: { type: "integer" }, state: { type: "string" } },
        }),
        ...errors(401, 404),
      },
    }),
  },
  "/v1/jobs/{id}/events": {
    get: op("What happened to a job and its tasks, in order (owner or admin)", "any", {
      parameters: [
        jobId,
        queryParam("after", "cursor: the `next` of the previous page", { type: "integer", minimum: 0 }),
        queryParam("limit", "page size (Default: 1000)", { type: "integer", minimum: 1, maximum: 1000 }),
      ],
      responses: { ...ok("a page of events", ref("EventPage")), ...errors(401, 404, 422) },
    }),
  },
  "/v1/schedulers": {
    get: op("Scheduler profiles with live commit and conflict statistics", "any", {
      responses: { ...ok("the schedulers", listOf("schedulers", "Scheduler")), ...errors(401) },
    }),
  },
  "/healthz": { get: op("Liveness", "none", { responses: ok("alive", { type: "object" }) }) },
  "/readyz": {
    get: op("Readiness: the database answers and is migrated", "none", {
      responses: { ...ok("ready", { type: "object" }), "503": problem("not ready") },
    }),
  },
  "/metrics": {
    get: op("Prometheus metrics", "none", {
      responses: { "200": { description: "text exposition format", content: { "text/plain": {} } } },
    }),
  },
  "/openapi.json": {
    get: op("This document", "none", { responses: ok("OpenAPI 3.1", { type: "object" }) }),
  },
};

const responses = Object.fromEntries(
  (
    [
      [400, "malformed request (the body is not JSON)"],
      [401, "missing or invalid bearer token"],
      [403, "the token may not do this"],
      [404, "not found (another tenant's job is not found either)"],
      [409, "conflicts with the current state"],
      [413, "the body is larger than 1 MiB"],
      [415, "the body is not application/json"],
      [422, "the request is not valid; `errors` names the fields (the first 20, and `errorCount`)"],
      [429, "over the tenant's jobs per minute or pending tasks; Retry-After says when to try again"],
    ] as const
  ).map(([status, description]) => [String(status), problem(description)]),
);

export const openapi = {
  openapi: "3.1.0",
  info: {
    title: "omega-scheduler",
    version: "0.1.0",
    description:
      "An Omega-style shared-state cluster scheduler. Resources are integers in base units (cpu millicores, " +
      'memory and disk MiB, gpu devices); requests also accept Kubernetes quantities ("500m", "4Gi"). ' +
      "Errors are application/problem+json.",
  },
  servers: [{ url: "/" }],
  security: [{ bearer: [] }],
  paths,
  components: {
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        description: "The admin token, a tenant's token, or (machine agent endpoints) a cell's agent token",
      },
    },
    schemas,
    responses,
  },
} as const;
