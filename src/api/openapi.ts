/** The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json. */
import { schemas } from "./openapi-schemas.ts";
import { workflowOperations, workflowPaths, workflowSchemas, workflowTag } from "./openapi-workflows.ts";

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

// Endpoints without input still answer 400 to a request the HTTP server cannot parse.
const badRequest = {
  "400": { description: "a malformed HTTP request (refused by the server before any route)" },
};

const body = (schema: string) => ({ required: true, content: json(ref(schema)) });

const follow = queryParam("follow", "true: a live text/event-stream instead of one page", {
  type: "string",
  enum: ["true", "false"],
});
const lastEventId = {
  name: "Last-Event-ID",
  in: "header",
  required: false,
  description: "resume a stream after this event id (sent by EventSource when it reconnects)",
  schema: { type: "string" },
};

const paths: Record<string, unknown> = {
  ...workflowPaths,
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
  "/v1/cells/{cell}/rebalance": {
    get: op("The moves the rebalancer would make now, and how the cell would change (a dry run)", "admin", {
      parameters: [
        cell,
        {
          ...queryParam("dryRun", "must be true: moves are made by the rebalance scheduler", {
            enum: ["true"],
          }),
          required: true,
        },
        queryParam("scheduler", "the rebalancing scheduler whose settings to use (Default: rebalance)"),
      ],
      responses: { ...ok("the moves", ref("RebalancePlan")), ...errors(401, 403, 404, 422) },
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
    post: op(
      "Drain a machine: no new placements, and its tasks evicted (whole gangs) so they are placed elsewhere; what is still there at the deadline is evicted then",
      "admin",
      {
        parameters: [cell, machine],
        requestBody: {
          required: false,
          content: json({
            type: "object",
            additionalProperties: false,
            properties: {
              deadline: { type: "string", description: 'a duration such as "5m" (Default: none)' },
            },
          }),
        },
        responses: { ...ok("draining", ref("Machine")), ...errors(400, 401, 403, 404, 422) },
      },
    ),
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
  "/v1/tenants/{name}": {
    put: op("Set a tenant's weight in fair sharing", "admin", {
      parameters: [pathParam("name", "tenant name")],
      requestBody: body("TenantWeightBody"),
      responses: { ...ok("the weight", ref("TenantWeight")), ...errors(400, 401, 403, 404, 413, 415, 422) },
    }),
  },
  "/v1/shares": {
    get: op("Dominant-resource shares per cell and tenant (a tenant sees its own)", "any", {
      parameters: [queryParam("cell", "cell name")],
      responses: { ...ok("the shares", listOf("shares", "Share")), ...errors(401, 422) },
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
        "409": problem(
          "the limit is below what the tenant's claims already use, or the cohort would lend less than its members borrow now",
        ),
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
    get: op(
      "What happened to a job and its tasks, in order; with follow=true, a live stream that ends when the job finishes (owner or admin)",
      "any",
      {
        parameters: [
          jobId,
          follow,
          lastEventId,
          queryParam("after", "cursor: the `next` of the previous page (or where a stream starts)", {
            type: "integer",
            minimum: 0,
          }),
          queryParam("limit", "page size (Default: 1000)", { type: "integer", minimum: 1, maximum: 1000 }),
        ],
        responses: {
          "200": {
            description:
              "a page of events; with follow=true, server-sent events (`id`, JSON `data` as an Event) then `event: end` once the job succeeded, failed or was cancelled",
            content: { ...json(ref("EventPage")), "text/event-stream": { schema: { type: "string" } } },
          },
          ...errors(401, 404, 422),
        },
      },
    ),
  },
  "/v1/events": {
    get: op(
      "Events of every job the caller may see (a tenant: its own), oldest first; with follow=true, a live stream from now (or from Last-Event-ID)",
      "any",
      {
        parameters: [
          follow,
          lastEventId,
          queryParam("cell", "only this cell's events"),
          queryParam("after", "events after this id", { type: "integer", minimum: 0 }),
          queryParam("limit", "page size (Default: 100)", { type: "integer", minimum: 1, maximum: 1000 }),
        ],
        responses: {
          "200": {
            description:
              "a page of events; with follow=true, server-sent events (`id`, JSON `data` as an Event)",
            content: {
              ...json({ type: "object", properties: { events: { type: "array", items: ref("Event") } } }),
              "text/event-stream": { schema: { type: "string" } },
            },
          },
          ...errors(401, 422),
        },
      },
    ),
  },
  "/v1/schedulers": {
    get: op("Scheduler profiles with live commit and conflict statistics", "any", {
      responses: { ...ok("the schedulers", listOf("schedulers", "Scheduler")), ...errors(401) },
    }),
  },
  "/healthz": {
    get: op("Liveness", "none", { responses: { ...ok("alive", { type: "object" }), ...badRequest } }),
  },
  "/readyz": {
    get: op("Readiness: the database answers and is migrated", "none", {
      responses: { ...ok("ready", { type: "object" }), ...badRequest, "503": problem("not ready") },
    }),
  },
  "/metrics": {
    get: op("Prometheus metrics", "none", {
      responses: {
        "200": { description: "text exposition format", content: { "text/plain": {} } },
        ...badRequest,
      },
    }),
  },
  "/openapi.json": {
    get: op("This document", "none", {
      responses: { ...ok("OpenAPI 3.1", { type: "object" }), ...badRequest },
    }),
  },
  "/docs": {
    get: op("This document as a page to read", "none", {
      responses: { "200": { description: "HTML", content: { "text/html": {} } }, ...badRequest },
    }),
  },
  "/": {
    get: op("Where things are: a browser is sent to the console, a client gets an index", "none", {
      responses: {
        ...ok("links to the console, the docs, the API and this document", { type: "object" }),
        "302": { description: "to /ui, when the client accepts HTML" },
        ...badRequest,
      },
    }),
  },
  "/ui": {
    get: op("The web console (sign in with a token)", "none", {
      responses: { "200": { description: "HTML", content: { "text/html": {} } }, ...badRequest },
    }),
  },
};

/** operationId and tag of every operation, in one reviewable place ("METHOD path"). */
const operations: Record<string, [string, string]> = {
  "GET /v1/cells": ["listCells", "Cells"],
  "POST /v1/cells": ["createCell", "Cells"],
  "GET /v1/cells/{cell}": ["getCell", "Cells"],
  "GET /v1/cells/{cell}/capacity": ["getCellCapacity", "Cells"],
  "GET /v1/cells/{cell}/rebalance": ["getCellRebalance", "Cells"],
  "GET /v1/cells/{cell}/machines": ["listMachines", "Machines"],
  "PUT /v1/cells/{cell}/machines/{name}": ["putMachine", "Machines"],
  "DELETE /v1/cells/{cell}/machines/{name}": ["removeMachine", "Machines"],
  "GET /v1/cells/{cell}/machines/{name}": ["getMachine", "Machines"],
  "POST /v1/cells/{cell}/machines/{name}/drain": ["drainMachine", "Machines"],
  "POST /v1/cells/{cell}/machines/{name}/undrain": ["undrainMachine", "Machines"],
  "POST /v1/cells/{cell}/agent-token": ["rotateAgentToken", "Agents"],
  "POST /v1/cells/{cell}/machines/{name}/heartbeat": ["agentHeartbeat", "Agents"],
  "GET /v1/cells/{cell}/machines/{name}/claims": ["agentClaims", "Agents"],
  "POST /v1/cells/{cell}/machines/{name}/tasks/{task}": ["agentReportTask", "Agents"],
  "POST /v1/cells/{cell}/machines/{name}/reports": ["agentReportTasks", "Agents"],
  "GET /v1/cells/{cell}/quota-policy": ["getQuotaPolicy", "Quotas"],
  "PUT /v1/cells/{cell}/quota-policy": ["setQuotaPolicy", "Quotas"],
  "PUT /v1/tenants/{name}": ["setTenantWeight", "Tenants"],
  "GET /v1/shares": ["listShares", "Quotas"],
  "GET /v1/tenants/{name}/limits": ["getTenantLimits", "Tenants"],
  "PUT /v1/tenants/{name}/limits": ["setTenantLimits", "Tenants"],
  "GET /v1/tenants": ["listTenants", "Tenants"],
  "POST /v1/tenants": ["createTenant", "Tenants"],
  "POST /v1/tenants/{name}/token": ["rotateTenantToken", "Tenants"],
  "GET /v1/quotas": ["listQuotas", "Quotas"],
  "PUT /v1/quotas/{tenant}/{cell}/{band}": ["setQuota", "Quotas"],
  "GET /v1/jobs": ["listJobs", "Jobs"],
  "POST /v1/jobs": ["submitJob", "Jobs"],
  ...workflowOperations,
  "GET /v1/jobs/{id}": ["getJob", "Jobs"],
  "DELETE /v1/jobs/{id}": ["cancelJob", "Jobs"],
  "GET /v1/jobs/{id}/events": ["listJobEvents", "Events"],
  "GET /v1/events": ["listEvents", "Events"],
  "GET /v1/schedulers": ["listSchedulers", "Schedulers"],
  "GET /healthz": ["getHealth", "System"],
  "GET /readyz": ["getReadiness", "System"],
  "GET /metrics": ["getMetrics", "System"],
  "GET /openapi.json": ["getOpenApi", "System"],
  "GET /docs": ["getDocs", "System"],
  "GET /ui": ["getConsole", "System"],
  "GET /": ["getRoot", "System"],
};

const tags = [
  { name: "Cells", description: "Independent pools of machines; scheduling never crosses cells." },
  { name: "Machines", description: "Capacity, labels, taints and state of a cell's machines." },
  { name: "Agents", description: "What the agent on each machine calls: heartbeats, claims, task reports." },
  { name: "Tenants", description: "Who owns jobs and holds quota; each has its own bearer token." },
  { name: "Quotas", description: "Resource limits per tenant, cell and priority band." },
  { name: "Jobs", description: "Submit, inspect and cancel jobs." },
  workflowTag,
  {
    name: "Events",
    description: "What happened to jobs and tasks, as pages or live server-sent event streams.",
  },
  { name: "Schedulers", description: "Scheduler profiles and their live commit and conflict statistics." },
  { name: "System", description: "Probes, metrics, this document, its docs page and the web console." },
];

for (const [path, methods] of Object.entries(paths)) {
  for (const [method, operation] of Object.entries(methods as Record<string, Operation>)) {
    const entry = operations[`${method.toUpperCase()} ${path}`];
    if (!entry) throw new Error(`openapi: no operationId for ${method.toUpperCase()} ${path}`);
    operation.operationId = entry[0];
    operation.tags = [entry[1]];
  }
}

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
    license: { name: "MIT", identifier: "MIT" },
    description:
      "An Omega-style shared-state cluster scheduler. Resources are integers in base units (cpu millicores, " +
      'memory and disk MiB, gpu devices); requests also accept Kubernetes quantities ("500m", "4Gi"). ' +
      "Errors are application/problem+json.",
  },
  servers: [{ url: "/" }],
  security: [{ bearer: [] }],
  tags,
  paths,
  components: {
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        description: "The admin token, a tenant's token, or (machine agent endpoints) a cell's agent token",
      },
    },
    schemas: { ...schemas, ...workflowSchemas },
    responses,
  },
} as const;
