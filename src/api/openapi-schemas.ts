/**
 * components.schemas of the OpenAPI document. Request bodies are generated from the zod schemas
 * that validate them, so the description cannot drift from what is accepted; responses are written
 * out by hand.
 */
import { z } from "zod";
import { heartbeatBodySchema, reportsBodySchema, taskReportBodySchema } from "../domain/agent-bodies.ts";
import {
  cellBodySchema,
  jobSpecSchema,
  machineBodySchema,
  quotaBodySchema,
  tenantBodySchema,
  tenantWeightSchema,
} from "../domain/job-spec.ts";

type Schema = Record<string, unknown>;

function fromZod(schema: z.ZodType): Schema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12" });
  return rest;
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int = { type: "integer" };
const str = { type: "string" };
const time = { type: "string", format: "date-time" };

function object(properties: Record<string, Schema>, description?: string): Schema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties),
    ...(description ? { description } : {}),
  };
}

const resources = object(
  { cpu: int, memory: int, gpu: int, disk: int },
  "Base units: cpu millicores, memory MiB, gpu devices, disk MiB.",
);

const job = object({
  id: int,
  name: str,
  cell: str,
  tenant: str,
  priority: int,
  band: { enum: ["best-effort", "batch", "production"] },
  scheduler: str,
  tasks: int,
  pendingTasks: int,
  state: { enum: ["pending", "placed", "running", "succeeded", "failed", "cancelled"] },
  blocked: { type: "boolean", description: "No place was found; waits for capacity to appear." },
  resources: ref("Resources"),
  constraints: object({
    selector: { type: "object", additionalProperties: str },
    affinity: { type: "array", items: { type: "object" } },
    tolerations: { type: "array", items: { type: "object" } },
    maxPerMachine: { type: ["integer", "null"] },
    spreadBy: { type: ["string", "null"] },
  }),
  gang: { oneOf: [object({ minAvailable: int }), { type: "null" }] },
  maxRetries: { type: "integer", description: "Extension: times each failed task is run again." },
  runtime: {
    oneOf: [object({ minMs: int, maxMs: int }), { type: "null" }],
    description: "Extension: how long a task runs on a simulated agent; null: until stopped.",
  },
  dependsOn: {
    type: "array",
    description: "the jobs this one waits for, each with its condition and whether it is met",
    items: object({
      job: int,
      condition: { enum: ["succeeded", "finished", "failed"] },
      state: { enum: ["waiting", "met", "failed"] },
    }),
  },
  prePlace: { type: "boolean", description: "reserves machines while its dependencies run" },
  workflow: { type: ["integer", "null"], description: "the workflow that created it" },
  reason: { type: ["string", "null"], description: "why it ended when its tasks do not say: dependency" },
  createdAt: time,
  updatedAt: time,
});

const jobDetail = {
  allOf: [
    ref("Job"),
    object({
      taskCounts: object({
        pending: int,
        placed: int,
        running: int,
        succeeded: int,
        failed: int,
        cancelled: int,
      }),
      placements: {
        type: "array",
        description: "One page, by task index (?after=<taskIndex>&limit=, at most 1000).",
        items: object({ taskIndex: int, taskId: int, machine: str, placedAt: time }),
      },
      next: {
        type: ["integer", "null"],
        description: "Pass as ?after= for the next page; null on the last.",
      },
      pendingReasons: {
        type: "array",
        description: "Why tasks are still pending, one entry per reason, most tasks first (at most 20).",
        items: object({ reason: str, tasks: int }),
      },
    }),
  ],
};

const taskStates = { enum: ["pending", "placed", "running", "succeeded", "failed", "cancelled"] };
const nullable = (schema: Schema) => ({ oneOf: [schema, { type: "null" }] });

const cellMetrics = object(
  {
    utilisationSpread: {
      type: "number",
      description: "Highest minus lowest utilisation of the up machines.",
    },
    utilisationStddev: { type: "number" },
    emptyMachines: int,
    spreadExcess: { type: "integer", description: "Tasks beyond their job's spread share or maxPerMachine." },
    strandedGpus: { type: "integer", description: "GPUs free on machines where no pending GPU task fits." },
    largestPendingFits: { type: "boolean", description: "The largest pending gang or GPU job has room." },
  },
  "Utilisation of a machine: its fullest dimension (cpu, memory, gpu), used / capacity.",
);

export const schemas: Record<string, Schema> = {
  JobSpec: fromZod(jobSpecSchema),
  RebalancePlan: object({
    cell: str,
    scheduler: str,
    dryRun: { type: "boolean" },
    strategies: {
      type: "array",
      items: { enum: ["Defragment", "RemoveDuplicates", "LowNodeUtilization", "HighNodeUtilization"] },
    },
    moves: {
      type: "array",
      items: object({
        taskId: int,
        jobId: int,
        from: str,
        to: str,
        strategy: str,
        forJob: nullable(int),
        why: str,
      }),
    },
    before: cellMetrics,
    after: cellMetrics,
  }),
  HeartbeatBody: fromZod(heartbeatBodySchema),
  TaskReportBody: fromZod(taskReportBodySchema),
  AgentToken: object({
    cell: str,
    createdAt: time,
    token: { type: "string", description: "Shown once; only its hash is kept." },
  }),
  Heartbeat: object({
    cell: str,
    machine: str,
    state: { enum: ["up", "draining", "down"] },
    cameBack: { type: "boolean", description: "It had been taken down as lost and is back." },
    stop: { type: "array", items: int, description: "Tasks it said it runs that are not claimed on it." },
  }),
  MachineClaims: object({
    cell: str,
    machine: str,
    state: { enum: ["up", "draining", "down"] },
    version: { type: "string", description: "The ETag: changes with the claims and their states." },
    tasks: {
      type: "array",
      items: object({
        taskId: int,
        jobId: int,
        taskIndex: int,
        state: { enum: ["placed", "running"] },
        resources: ref("Resources"),
        runtime: nullable(object({ minMs: int, maxMs: int })),
        placedAt: time,
      }),
    },
  }),
  TaskReport: object({
    taskId: int,
    jobId: int,
    taskIndex: int,
    state: taskStates,
    jobState: taskStates,
    reason: nullable(str),
  }),
  Event: object({
    id: int,
    at: time,
    cell: str,
    jobId: int,
    tenant: str,
    kind: {
      enum: [
        "submitted",
        "pending",
        "placed",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "retried",
        "lost",
        "preempted",
        "returned",
        "dependency-met",
        "dependency-failed",
        "launched",
        "reserved",
      ],
    },
    taskIndex: nullable(int),
    taskId: nullable(int),
    machine: nullable(str),
    reason: nullable(str),
  }),
  EventPage: object({
    events: { type: "array", items: ref("Event") },
    next: { ...nullable(int), description: "cursor of the next page (`after`), null on the last" },
  }),
  MachineBody: fromZod(machineBodySchema),
  CellBody: fromZod(cellBodySchema),
  TenantBody: fromZod(tenantBodySchema),
  TenantWeightBody: fromZod(tenantWeightSchema),
  TenantWeight: object({ name: str, weight: { type: "number" } }),
  QuotaBody: {
    ...fromZod(quotaBodySchema),
    description:
      "A dimension of `resources` left out is not limited. With a `cohort`, the quota lends what it does not use " +
      "to the cohort's other members (in its cell and band) and borrows what they do not use, within " +
      "`borrowingLimit` and `lendingLimit` (only the dimensions given are limited).",
  },
  Share: object(
    {
      cell: str,
      tenant: str,
      weight: { type: "number" },
      used: ref("Resources"),
      tasks: int,
      cpuShare: { type: "number" },
      memoryShare: { type: "number" },
      gpuShare: { type: "number" },
      dominantShare: {
        type: "number",
        description: "The largest fraction of the cell's up capacity it holds.",
      },
      weightedShare: {
        type: "number",
        description: "dominantShare / weight; within a priority, lowest served first.",
      },
    },
    "A tenant's dominant-resource share of a cell (omega.tenant_shares).",
  ),
  Resources: resources,
  Problem: {
    type: "object",
    description: "RFC 9457 problem details (application/problem+json).",
    properties: {
      type: str,
      title: str,
      status: int,
      detail: str,
      errors: { type: "array", items: object({ path: str, message: str }) },
    },
    required: ["type", "title", "status", "detail"],
  },
  Cell: object({
    name: str,
    createdAt: time,
    machines: object({ total: int, up: int, draining: int, down: int }),
    capacity: ref("Resources"),
    used: ref("Resources"),
    free: { ...ref("Resources"), description: "Unclaimed capacity of machines that are up." },
    tasks: int,
  }),
  Machine: object({
    cell: str,
    name: str,
    state: { enum: ["up", "draining", "down"] },
    capacity: ref("Resources"),
    used: ref("Resources"),
    tasks: int,
    maxTasks: { type: "integer", description: "At most this many tasks on the machine (Default: 110)." },
    labels: { type: "object", additionalProperties: str },
    taints: { type: "array", items: { type: "object" } },
    version: int,
  }),
  Tenant: object({ id: int, name: str, weight: { type: "number" }, createdAt: time }),
  TenantLimits: object(
    {
      tenant: str,
      maxPriority: { type: "integer", description: "(Default: 199, the top of batch.)" },
      maxTasksPerJob: { type: "integer", description: "(Default: 10,000.)" },
      maxPendingTasks: { type: "integer", description: "Over every cell. (Default: 100,000.)" },
      jobsPerMinute: { type: "integer", description: "A token bucket per API process. (Default: 600.)" },
      minTaskRequest: object({ cpu: int, memory: int }),
    },
    "What the admin lets a tenant ask for. PUT takes any subset (maxPriority may be a band name).",
  ),
  QuotaPolicy: object(
    { cell: str, batch: { enum: ["unlimited", "none"] }, production: { enum: ["unlimited", "none"] } },
    "What a missing quota means in the cell, per band (Default: batch unlimited, production none).",
  ),
  ReportsBody: fromZod(reportsBodySchema),
  TaskReports: object({
    results: {
      type: "array",
      items: object({
        taskId: int,
        status: {
          type: "integer",
          description: "200, or the status that refused this report (404, 409, 422)",
        },
        state: nullable(taskStates),
        jobState: nullable(taskStates),
        reason: nullable(str),
        detail: nullable(str),
      }),
    },
  }),
  TenantToken: {
    allOf: [
      ref("Tenant"),
      object({ token: { type: "string", description: "Shown once; only its hash is kept." } }),
    ],
  },
  Quota: object({
    tenant: str,
    cell: str,
    band: { enum: ["batch", "production"] },
    limit: ref("Resources"),
    used: ref("Resources"),
    cohort: { type: ["string", "null"] },
    nominal: ref("Resources"),
    borrowed: { ...ref("Resources"), description: "used beyond the nominal quota, lent by the cohort" },
    lent: { ...ref("Resources"), description: "of the nominal quota, used by other members now" },
    borrowingLimit: { type: ["object", "null"], description: "the dimensions limited, or null" },
    lendingLimit: { type: ["object", "null"], description: "the dimensions limited, or null" },
  }),
  Job: job,
  JobDetail: jobDetail,
  JobPage: object({
    jobs: { type: "array", items: ref("Job") },
    next: { type: ["integer", "null"], description: "Pass as ?after= for the next page; null on the last." },
  }),
  Capacity: object({
    cell: str,
    shape: ref("Resources"),
    total: int,
    machines: { type: "array", items: object({ machine: str, fits: int }) },
  }),
  Scheduler: object({
    name: str,
    profile: { type: "object" },
    updatedAt: time,
    stats: object({
      plans: int,
      placementsAttempted: int,
      placementsCommitted: int,
      placementsRejected: int,
      conflicts: int,
      conflictFraction: { type: "number" },
      avgCommitMs: { type: "number" },
    }),
  }),
};
