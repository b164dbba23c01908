/**
 * The OpenAPI paths, operations and schemas of workflows and periodic jobs (SPEC "Workflows"),
 * merged into the document by openapi.ts.
 */
import { z } from "zod";
import { periodicSpecSchema, workflowSpecSchema } from "../domain/workflow-spec.ts";

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/${s}` }]));
const int = { type: "integer" };
const str = { type: "string" };
const time = { type: "string", format: "date-time" };
const nullable = (schema: Schema) => ({ oneOf: [schema, { type: "null" }] });

function object(properties: Record<string, Schema>, description?: string): Schema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties),
    ...(description ? { description } : {}),
  };
}

function fromZod(schema: z.ZodType): Schema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" });
  return rest;
}

function op(summary: string, who: "any" | "tenant", extra: Record<string, unknown>): Record<string, unknown> {
  return { summary: who === "tenant" ? `${summary} (tenant token)` : summary, "x-omega-auth": who, ...extra };
}

const workflowId = {
  name: "workflow",
  in: "path",
  required: true,
  description: "workflow id",
  schema: { type: "integer", minimum: 1 },
};
const periodicId = {
  name: "periodic",
  in: "path",
  required: true,
  description: "periodic job id",
  schema: { type: "integer", minimum: 1 },
};
const ok = (description: string, schema: Schema, status = "200") => ({
  [status]: { description, content: json(schema) },
});

export const workflowSchemas: Record<string, Schema> = {
  WorkflowSpec: fromZod(workflowSpecSchema),
  Workflow: object({
    id: int,
    name: str,
    cell: str,
    tenant: str,
    state: { enum: ["pending", "running", "succeeded", "failed", "cancelled"] },
    jobs: {
      type: "object",
      description: "each job of the workflow by its name",
      additionalProperties: object({
        id: int,
        state: str,
        pendingTasks: int,
        reason: nullable(str),
        dependsOn: {
          type: "array",
          items: object({
            job: nullable(str),
            id: int,
            condition: str,
            state: { enum: ["waiting", "met", "failed"] },
          }),
        },
      }),
    },
    createdAt: time,
  }),
  PeriodicSpec: fromZod(periodicSpecSchema),
  Periodic: object({
    id: int,
    name: str,
    cell: str,
    tenant: str,
    schedule: str,
    timeZone: str,
    concurrencyPolicy: { enum: ["Allow", "Forbid", "Replace"] },
    startingDeadlineSeconds: int,
    suspended: { type: "boolean" },
    nextRunAt: time,
    lastRunAt: nullable(time),
    lastJob: nullable(object({ id: int, state: nullable(str) })),
    launches: int,
    job: { type: "object" },
    createdAt: time,
  }),
};

export const workflowPaths: Record<string, Record<string, unknown>> = {
  "/v1/workflows": {
    post: op("Submit a workflow: every job of the DAG in one transaction, or none", "tenant", {
      requestBody: { required: true, content: json(ref("WorkflowSpec")) },
      responses: { ...ok("created", ref("Workflow"), "201"), ...errors(400, 401, 403, 413, 415, 422, 429) },
    }),
  },
  "/v1/workflows/{workflow}": {
    get: op("A workflow: each job's state and dependencies (owner or admin)", "any", {
      parameters: [workflowId],
      responses: { ...ok("the workflow", ref("Workflow")), ...errors(401, 404) },
    }),
    delete: op("Cancel what has not finished of a workflow (owner or admin)", "any", {
      parameters: [workflowId],
      responses: {
        ...ok("how many jobs were cancelled", object({ id: int, cancelled: int, state: str })),
        ...errors(401, 404),
      },
    }),
  },
  "/v1/periodic": {
    get: op("List periodic jobs (a tenant sees its own)", "any", {
      responses: {
        ...ok("periodic jobs", object({ periodic: { type: "array", items: ref("Periodic") } })),
        ...errors(401),
      },
    }),
    post: op("Create a periodic job: a cron schedule that launches a job spec", "tenant", {
      requestBody: { required: true, content: json(ref("PeriodicSpec")) },
      responses: { ...ok("created", ref("Periodic"), "201"), ...errors(400, 401, 403, 409, 413, 415, 422) },
    }),
  },
  "/v1/periodic/{periodic}": {
    get: op("A periodic job with its next and last run (owner or admin)", "any", {
      parameters: [periodicId],
      responses: { ...ok("the periodic job", ref("Periodic")), ...errors(401, 404) },
    }),
    delete: op("Delete a periodic job; jobs it launched keep running (owner or admin)", "any", {
      parameters: [periodicId],
      responses: { ...ok("deleted", object({ id: int, deleted: { type: "boolean" } })), ...errors(401, 404) },
    }),
  },
  "/v1/periodic/{periodic}/pause": {
    post: op("Pause a periodic job (owner or admin)", "any", {
      parameters: [periodicId],
      responses: { ...ok("the periodic job", ref("Periodic")), ...errors(401, 404) },
    }),
  },
  "/v1/periodic/{periodic}/resume": {
    post: op("Resume a periodic job from its next scheduled time (owner or admin)", "any", {
      parameters: [periodicId],
      responses: { ...ok("the periodic job", ref("Periodic")), ...errors(401, 404) },
    }),
  },
};

export const workflowOperations: Record<string, [string, string]> = {
  "POST /v1/workflows": ["submitWorkflow", "Workflows"],
  "GET /v1/workflows/{workflow}": ["getWorkflow", "Workflows"],
  "DELETE /v1/workflows/{workflow}": ["cancelWorkflow", "Workflows"],
  "GET /v1/periodic": ["listPeriodic", "Workflows"],
  "POST /v1/periodic": ["createPeriodic", "Workflows"],
  "GET /v1/periodic/{periodic}": ["getPeriodic", "Workflows"],
  "DELETE /v1/periodic/{periodic}": ["deletePeriodic", "Workflows"],
  "POST /v1/periodic/{periodic}/pause": ["pausePeriodic", "Workflows"],
  "POST /v1/periodic/{periodic}/resume": ["resumePeriodic", "Workflows"],
};

export const workflowTag = {
  name: "Workflows",
  description: "Jobs that depend on jobs, DAGs submitted in one request, and periodic (cron) jobs.",
};
