import { type Band, bandOf } from "../../domain/priority.ts";
import type { Resources } from "../../domain/resources.ts";
import { resourcesOf } from "./resources-of.ts";

/** What GET /v1/jobs lists for each job: its spec, normalised, and its state. */
export interface JobSummary {
  id: number;
  name: string;
  cell: string;
  tenant: string;
  priority: number;
  band: Band;
  scheduler: string;
  tasks: number;
  pendingTasks: number;
  state: string;
  /** The scheduler found no place for its pending tasks and waits for capacity to appear. */
  blocked: boolean;
  resources: Resources;
  constraints: {
    selector: Record<string, string>;
    affinity: { key: string; op: string; values?: string[] }[];
    tolerations: { key: string; value?: string }[];
    maxPerMachine: number | null;
    spreadBy: string | null;
  };
  gang: { minAvailable: number } | null;
  /** Extension: how many times each failed task is run again. */
  maxRetries: number;
  /** Extension: how long a task runs on a simulated agent; null: until stopped. */
  runtime: { minMs: number; maxMs: number } | null;
  /** The jobs this one waits for, each with its condition and whether it is met yet. */
  dependsOn: { job: number; condition: string; state: "waiting" | "met" | "failed" }[];
  /** Reserves machines while its dependencies run. */
  prePlace: boolean;
  /** The workflow that created the job, if one did. */
  workflow: number | null;
  /** Why the job ended, when its tasks do not say it: `dependency`. */
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The columns jobOf reads; `j` is omega.jobs, `t` omega.tenants. */
export const JOB_COLUMNS = `
  j.id, j.name, j.cell, t.name as tenant, j.priority, j.scheduler, j.task_count, j.pending_count,
  j.state, j.blocked, j.cpu, j.memory, j.gpu, j.disk, j.selector, j.affinity, j.tolerations,
  j.max_per_machine, j.spread_by, j.gang_min, j.max_retries, j.runtime_min_ms, j.runtime_max_ms,
  j.pre_place, j.workflow_id, j.reason,
  (select coalesce(json_agg(json_build_object('job', d.depends_on, 'condition', d.condition, 'state', d.state)
            order by d.depends_on), '[]')
   from omega.job_dependencies d where d.cell = j.cell and d.job_id = j.id) as depends_on,
  j.created_at, j.updated_at`;

export function jobOf(row: Record<string, unknown>): JobSummary {
  const priority = Number(row.priority);
  return {
    id: Number(row.id),
    name: String(row.name),
    cell: String(row.cell),
    tenant: String(row.tenant),
    priority,
    band: bandOf(priority),
    scheduler: String(row.scheduler),
    tasks: Number(row.task_count),
    pendingTasks: Number(row.pending_count),
    state: String(row.state),
    blocked: row.blocked === true,
    resources: resourcesOf(row),
    constraints: {
      selector: row.selector as JobSummary["constraints"]["selector"],
      affinity: row.affinity as JobSummary["constraints"]["affinity"],
      tolerations: row.tolerations as JobSummary["constraints"]["tolerations"],
      maxPerMachine: row.max_per_machine === null ? null : Number(row.max_per_machine),
      spreadBy: row.spread_by === null ? null : String(row.spread_by),
    },
    gang: row.gang_min === null ? null : { minAvailable: Number(row.gang_min) },
    maxRetries: Number(row.max_retries),
    runtime:
      row.runtime_min_ms === null || row.runtime_min_ms === undefined
        ? null
        : { minMs: Number(row.runtime_min_ms), maxMs: Number(row.runtime_max_ms) },
    dependsOn: (row.depends_on as JobSummary["dependsOn"] | undefined) ?? [],
    prePlace: row.pre_place === true,
    workflow: row.workflow_id === null || row.workflow_id === undefined ? null : Number(row.workflow_id),
    reason: row.reason === null || row.reason === undefined ? null : String(row.reason),
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}
