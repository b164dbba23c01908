/**
 * Request bodies of the HTTP API, validated with zod before anything reaches the database. Every
 * object is strict (unknown fields are refused) and every quantity is normalised to whole base units
 * (cpu millicores, memory/disk MiB, gpu devices). omega.submit_job and omega.put_machine check the
 * same rules again in SQL: that is the one authority; this layer exists for per-field errors.
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { BANDS, type Band } from "./priority.ts";
import { parseQuantity } from "./quantity.ts";
import { type Dimension, MAX_QUANTITY, type Resources } from "./resources.ts";

/** omega.name: cells, tenants, schedulers. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** omega.machines.name: a host name, FQDN or instance id. */
export const MACHINE_NAME_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;
/** Label and taint keys, Kubernetes-like: an optional `prefix/` and a name. */
const LABEL_KEY_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;
const LIST_MAX = 100;

/** Postgres text cannot hold NUL and jsonb refuses unpaired surrogates: refuse them here, as a 422. */
function storable(value: string): boolean {
  return !value.includes("\u0000") && !/\p{Cs}/u.test(value);
}

export function text(max: number) {
  return z.string().max(max).refine(storable, "must not contain NUL or unpaired surrogate characters");
}

export const nameSchema = z
  .string()
  .regex(
    NAME_PATTERN,
    "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit",
  );

export const machineNameSchema = z
  .string()
  .regex(
    MACHINE_NAME_PATTERN,
    "must be 1-253 letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
  );

const labelKey = z.string().regex(LABEL_KEY_PATTERN, "must be 1-253 letters, digits, '.', '_', '-' or '/'");
const labelValue = text(253);

/**
 * A string map (labels, a selector): label keys, short string values, at most LIST_MAX entries.
 * (z.record would skip an own "__proto__" key without a word: request bodies are refused before
 * they get here when they hold one, see src/api/proto-keys.ts.)
 */
function stringMap() {
  return z
    .record(labelKey, labelValue)
    .refine((map) => Object.keys(map).length <= LIST_MAX, `at most ${LIST_MAX} entries`);
}

const labelsSchema = stringMap();

const UNITS: Record<Dimension, string> = { cpu: "millicores", memory: "MiB", gpu: "devices", disk: "MiB" };

/** A whole number of base units, or a Kubernetes quantity string ("500m", "2", "512Mi", "4Gi"). */
function quantity(dimension: Dimension) {
  return z
    .union([z.number(), z.string()], {
      error: 'expected a whole number of base units or a quantity string such as "500m" or "4Gi"',
    })
    .transform((value, ctx) => {
      if (typeof value === "string" && value.length > 64) {
        ctx.addIssue({ code: "custom", message: "is not a quantity (too long)" });
        return z.NEVER;
      }
      try {
        return parseQuantity(value, dimension);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    })
    .meta({ description: `${dimension}: base units (${UNITS[dimension]}) or a Kubernetes quantity string` });
}

const resourceFields = {
  cpu: quantity("cpu").optional(),
  memory: quantity("memory").optional(),
  gpu: quantity("gpu").optional(),
  disk: quantity("disk").optional(),
};

/** Resources where an omitted dimension is zero (a request, a capacity, a shape). */
export const resourcesSchema = z
  .strictObject(resourceFields)
  .transform(
    (r): Resources => ({ cpu: r.cpu ?? 0, memory: r.memory ?? 0, gpu: r.gpu ?? 0, disk: r.disk ?? 0 }),
  );

/** Quota limits: an omitted dimension is not limited (stored as the largest quantity, 10^12). */
export const quotaLimitsSchema = z.strictObject(resourceFields).transform(
  (r): Resources => ({
    cpu: r.cpu ?? MAX_QUANTITY,
    memory: r.memory ?? MAX_QUANTITY,
    gpu: r.gpu ?? MAX_QUANTITY,
    disk: r.disk ?? MAX_QUANTITY,
  }),
);

const prioritySchema = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === "string" && Object.hasOwn(BANDS, value)) return BANDS[value as Band];
    if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 999) return value;
    ctx.addIssue({
      code: "custom",
      message: "must be a whole number 0-999 or one of best-effort, batch, production",
    });
    return z.NEVER;
  })
  .meta({ description: "0-999, or a band name: best-effort (50), batch (150), production (250)" });

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"] as const;
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] as const;
/** Kubernetes' Gt/Lt value: a base-10 64-bit integer (strconv.ParseInt). */
const INT64 = /^[+-]?\d{1,19}$/;
const fitsInt64 = (v: string) => INT64.test(v) && BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n;

/** A machine taint: `effect` NoSchedule (the default), PreferNoSchedule or NoExecute. */
const taintSchema = z.strictObject({
  key: labelKey,
  value: labelValue.optional(),
  effect: z.enum(EFFECTS).optional(),
});

/** Kubernetes' toleration, with its validation rules (k8s.io/kubernetes/pkg/apis/core/validation). */
const tolerationSchema = z
  .strictObject({
    key: z.union([z.literal(""), labelKey]).optional(),
    operator: z.enum(["Equal", "Exists"]).optional(),
    value: labelValue.optional(),
    effect: z.enum(EFFECTS).optional(),
    tolerationSeconds: z.int().min(-1_000_000_000_000).max(1_000_000_000_000).optional(),
  })
  .superRefine((t, ctx) => {
    const exists = t.operator === "Exists";
    if (!t.key && !exists)
      ctx.addIssue({ code: "custom", path: ["key"], message: "an empty key needs operator Exists" });
    if (exists && t.value)
      ctx.addIssue({ code: "custom", path: ["value"], message: "operator Exists takes no value" });
    if (t.tolerationSeconds !== undefined && t.effect !== "NoExecute")
      ctx.addIssue({
        code: "custom",
        path: ["tolerationSeconds"],
        message: "tolerationSeconds needs effect NoExecute",
      });
  });

/** Node-affinity term rules shared by `affinity` and `preferredAffinity` (as omega.check_affinity_term). */
function checkAffinityTerm(
  term: { operator?: string; op?: string; values?: string[] },
  ctx: z.RefinementCtx,
): void {
  if (term.operator !== undefined && term.op !== undefined && term.operator !== term.op) {
    ctx.addIssue({ code: "custom", path: ["op"], message: "op is an alias of operator: give one of them" });
    return;
  }
  const operator = term.operator ?? term.op;
  if (operator === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["operator"],
      message: `operator is required (${OPERATORS.join(", ")})`,
    });
    return;
  }
  const count = term.values?.length ?? 0;
  if ((operator === "In" || operator === "NotIn") && count === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `${operator} needs a non-empty list of values`,
    });
  } else if ((operator === "Exists" || operator === "DoesNotExist") && count > 0) {
    ctx.addIssue({ code: "custom", path: ["values"], message: `${operator} takes no values` });
  } else if (
    (operator === "Gt" || operator === "Lt") &&
    (count !== 1 || !fitsInt64(term.values?.[0] ?? ""))
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `${operator} needs exactly one integer value`,
    });
  }
}

const affinityFields = {
  key: labelKey,
  operator: z.enum(OPERATORS).optional(),
  op: z.enum(OPERATORS).optional().meta({ description: "alias of operator" }),
  values: z.array(labelValue).max(LIST_MAX).optional(),
};
const affinityTermSchema = z.strictObject(affinityFields).superRefine(checkAffinityTerm);
const preferredAffinityTermSchema = z
  .strictObject({ weight: z.int().min(1).max(100), ...affinityFields })
  .superRefine(checkAffinityTerm);

const topologySpreadSchema = z.strictObject({
  topologyKey: labelKey.meta({ description: "a machine label, or `machine` (each machine its own domain)" }),
  maxSkew: z.int().min(1).max(100_000),
  whenUnsatisfiable: z
    .enum(["DoNotSchedule", "ScheduleAnyway"])
    .optional()
    .meta({ description: "(Default: DoNotSchedule)" }),
});

const jobAffinityTermSchema = z.strictObject({
  selector: stringMap(),
  topologyKey: labelKey.meta({ description: "a machine label, or `machine` (the machine itself)" }),
});

export const constraintsSchema = z.strictObject({
  selector: stringMap().optional(),
  affinity: z.array(affinityTermSchema).max(LIST_MAX).optional(),
  tolerations: z.array(tolerationSchema).max(LIST_MAX).optional(),
  maxPerMachine: z.int().min(1).max(100_000).optional(),
  spreadBy: labelKey.optional(),
  preferredAffinity: z.array(preferredAffinityTermSchema).max(LIST_MAX).optional(),
  topologySpread: z.array(topologySpreadSchema).max(LIST_MAX).optional(),
  jobAffinity: z.array(jobAffinityTermSchema).max(LIST_MAX).optional(),
  jobAntiAffinity: z.array(jobAffinityTermSchema).max(LIST_MAX).optional(),
});

/** Host ports: 1-65535, each at most once. */
const portsSchema = z
  .array(z.int().min(1).max(65_535))
  .max(LIST_MAX)
  .refine((ports) => new Set(ports).size === ports.length, "a port is listed twice");

const durationSchema = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, 'must be a duration such as "500ms", "30s", "2m" or "1h"');

/** Extension (not in SPEC.md): how long a task runs on a simulated agent, fixed or drawn uniformly. */
const runtimeSchema = z
  .union([durationSchema, z.strictObject({ min: durationSchema, max: durationSchema })])
  .refine(
    (r) => typeof r === "string" || (parseDuration(r.min) ?? 0) <= (parseDuration(r.max) ?? 0),
    "min must not exceed max",
  )
  .meta({
    description:
      'Extension: how long each task runs on a simulated agent ("30s", or {"min": "10s", "max": "1m"}); without it, until stopped',
  });

/** Slurm's afterok, afterany and afternotok. */
export const DEPENDENCY_CONDITIONS = ["succeeded", "finished", "failed"] as const;

/** One entry of `dependsOn`: an existing job's id and the condition to wait for (Default: succeeded). */
export const dependencySchema = z.strictObject({
  job: z.int().min(1),
  condition: z.enum(DEPENDENCY_CONDITIONS).optional(),
});

export const jobSpecSchema = z
  .strictObject({
    name: text(253).optional(),
    cell: nameSchema,
    priority: prioritySchema.optional(),
    scheduler: nameSchema.optional(),
    tasks: z.int().min(1).max(100_000),
    resources: resourcesSchema,
    labels: labelsSchema
      .optional()
      .meta({ description: "the job's labels, which jobAffinity selectors match" }),
    constraints: constraintsSchema.optional(),
    ports: portsSchema.optional().meta({ description: "host ports each task holds on its machine" }),
    gang: z.strictObject({ minAvailable: z.int().min(1).max(100_000) }).optional(),
    maxRetries: z
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: "Extension: times each failed task is run again (Default: 3)" }),
    runtime: runtimeSchema.optional(),
    locality: z
      .strictObject({ label: labelKey, values: z.array(labelValue).min(1).max(LIST_MAX) })
      .optional()
      .meta({
        description:
          "machines holding the job's data: those whose label `label` is one of `values`; the flow scheduler prefers them (never a filter)",
      }),
    disruptionBudget: z
      .strictObject({ maxUnavailable: z.int().min(0).max(100_000) })
      .optional()
      .meta({
        description:
          "At most this many of the job's tasks away from a machine at once because of a rebalance (moved while running, not running again yet)",
      }),
    dependsOn: z.array(dependencySchema).max(100).optional().meta({
      description:
        "Jobs of the same tenant and cell this job waits for; it is not scheduled until each condition holds",
    }),
    prePlace: z.boolean().optional().meta({
      description:
        "Reserve machines while the dependencies run; the reservation becomes a placement in the transaction that meets the last one (Default: false)",
    }),
  })
  .superRefine((spec, ctx) => {
    if (spec.gang && spec.gang.minAvailable > spec.tasks) {
      ctx.addIssue({ code: "custom", path: ["gang", "minAvailable"], message: "must not exceed tasks" });
    }
  });

export const machineBodySchema = z.strictObject({
  resources: resourcesSchema,
  labels: labelsSchema.optional(),
  taints: z.array(taintSchema).max(LIST_MAX).optional(),
  maxTasks: z
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .meta({ description: "At most this many tasks on the machine, whatever their requests (Default: 110)" }),
});

export const cellBodySchema = z.strictObject({ name: nameSchema });
export const tenantBodySchema = z.strictObject({
  name: nameSchema,
  // Checked by omega.set_tenant_limits, the one place its rules live (see PUT /v1/tenants/:name/limits).
  limits: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: "the tenant's rights and limits, as PUT /v1/tenants/:name/limits takes them" }),
});
/** Borrowing and lending limits: only the dimensions given are limited (left out: not limited). */
const sharingLimitsSchema = z.strictObject(resourceFields);

export const quotaBodySchema = z.strictObject({
  resources: quotaLimitsSchema,
  // SPEC "Sharing": members of a cohort borrow each other's unused quota within these limits.
  cohort: nameSchema
    .optional()
    .meta({ description: "the cohort whose members lend each other unused quota" }),
  borrowingLimit: sharingLimitsSchema.optional().meta({
    description: "the most this quota may borrow beyond its own, per dimension (Default: not limited)",
  }),
  lendingLimit: sharingLimitsSchema.optional().meta({
    description: "the most of this quota the others may borrow, per dimension (Default: all of it)",
  }),
});

/** PUT /v1/tenants/:name: the tenant's weight in fair sharing. */
export const tenantWeightSchema = z.strictObject({
  weight: z
    .number()
    .min(0.001)
    .max(1000)
    .meta({ description: "its weight in dominant-resource fair sharing (Default: 1)" }),
});

/** The normalised job spec: quantities and priority are numbers. */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** The job spec as a client writes it. */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type Constraints = z.output<typeof constraintsSchema>;
export type MachineBody = z.output<typeof machineBodySchema>;
/** A machine body as a client writes it (quantities may be strings). */
export type MachineBodyInput = z.input<typeof machineBodySchema>;
export type CellBody = z.output<typeof cellBodySchema>;
export type TenantBody = z.output<typeof tenantBodySchema>;
export type QuotaBody = z.output<typeof quotaBodySchema>;
