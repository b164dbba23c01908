import type { Pool } from "../../src/db/pool.ts";
import { agentTokenRotate } from "../../src/db/queries/agent-token-rotate.ts";
import { tenantCreate } from "../../src/db/queries/tenant-create.ts";
import { commitPlan as commitPlanThroughDb, type PlacementOutcome } from "../../src/db/scheduling.ts";
import { newAgentToken, newTenantToken } from "../../src/domain/tokens.ts";

/** Empties every state table, for test files that start each test from nothing. */
export async function emptyState(pool: Pool): Promise<void> {
  await pool.query(
    "truncate omega.claims, omega.plans, omega.tasks, omega.jobs, omega.quotas, omega.machines, omega.machine_removals, omega.machine_changes, omega.tenants, omega.cells cascade",
  );
}

/** Factories with every field optional: a test names only what it is about. */
export async function makeCell(pool: Pool, name = "east"): Promise<string> {
  await pool.query("select omega.create_cell($1)", [name]);
  return name;
}

export interface MachineSpec {
  cell?: string;
  name?: string;
  cpu?: number | string;
  memory?: number | string;
  gpu?: number;
  disk?: number;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string }[];
  /** Tasks the machine may hold (Default: the database's, 110). */
  maxTasks?: number;
}

let machineSeq = 0;
export async function makeMachine(
  pool: Pool,
  spec: MachineSpec = {},
): Promise<{ id: number; name: string; version: number }> {
  const name = spec.name ?? `m${++machineSeq}`;
  const { rows } = await pool.query(
    "select id, name, version from omega.put_machine($1, $2, $3, $4, $5, $6)",
    [
      spec.cell ?? "east",
      name,
      { cpu: spec.cpu ?? 4000, memory: spec.memory ?? 8192, gpu: spec.gpu ?? 0, disk: spec.disk ?? 0 },
      spec.labels ?? {},
      JSON.stringify(spec.taints ?? []),
      spec.maxTasks ?? null,
    ],
  );
  return rows[0];
}

export async function makeTenant(
  pool: Pool,
  name = "acme",
): Promise<{ id: number; name: string; token: string }> {
  const { token, hash } = newTenantToken();
  const tenant = await tenantCreate(pool, name, hash);
  if (!tenant) throw new Error(`tenant ${name} exists`);
  return { id: tenant.id, name, token };
}

/**
 * Lets a tenant submit any priority and a cell admit work in bands with no quota: for tests about
 * something else than tenant rights (issue 17 made both opt-in: production needs the admin's grant).
 */
export async function allowAnyPriority(pool: Pool, tenant = "acme", cell = "east"): Promise<void> {
  await pool.query(`select omega.set_tenant_limits($1, '{"maxPriority": 999}')`, [tenant]);
  await pool.query(`select omega.set_quota_policy($1, '{"production": "unlimited"}')`, [cell]);
}

/** Sets a tenant's limits through the same procedure as the API (PUT /v1/tenants/:name/limits). */
export async function setTenantLimits(
  pool: Pool,
  limits: Record<string, unknown>,
  tenant = "acme",
): Promise<void> {
  await pool.query("select omega.set_tenant_limits($1, $2)", [tenant, limits]);
}

/** Issues the cell's agent token (replacing any previous one) and returns it. */
export async function makeAgentToken(pool: Pool, cell = "east"): Promise<string> {
  const { token, hash } = newAgentToken();
  if (!(await agentTokenRotate(pool, cell, hash))) throw new Error(`cell ${cell} does not exist`);
  return token;
}

export async function submitJob(
  pool: Pool,
  spec: Record<string, unknown> = {},
  tenant = "acme",
): Promise<number> {
  const full = { cell: "east", tasks: 1, resources: { cpu: 1000, memory: 1024 }, ...spec };
  const { rows } = await pool.query("select omega.submit_job($1, $2) as id", [tenant, full]);
  return rows[0].id;
}

/** Sets a quota through the same procedure as the API (omitted dimensions are unlimited). */
export async function setQuota(
  pool: Pool,
  resources: Record<string, number | string>,
  options: { tenant?: string; cell?: string; band?: "batch" | "production" } = {},
): Promise<void> {
  await pool.query("select omega.put_quota($1, $2, $3, $4)", [
    options.tenant ?? "acme",
    options.cell ?? "east",
    options.band ?? "batch",
    resources,
  ]);
}

export async function pendingTaskIds(pool: Pool, jobId: number): Promise<number[]> {
  const { rows } = await pool.query(
    "select id from omega.tasks where job_id = $1 and state = 'pending' order by id",
    [jobId],
  );
  return rows.map((r) => r.id);
}

export type Outcome = PlacementOutcome;

/** Calls omega.commit_plan through the same module the scheduler uses. */
export function commitPlan(
  pool: Pool,
  placements: { taskId: number; machineId: number; version: number; victims?: number[] }[],
  options: {
    scheduler?: string;
    transactionMode?: "incremental" | "all-or-nothing";
    conflictMode?: "fine" | "coarse";
  } = {},
): Promise<Outcome[]> {
  return commitPlanThroughDb(pool, {
    cell: "east",
    scheduler: options.scheduler ?? "batch",
    worker: "test",
    placements: placements.map((p) => ({
      taskId: p.taskId,
      machineId: p.machineId,
      machineVersion: p.version,
      victims: p.victims,
    })),
    transactionMode: options.transactionMode ?? "incremental",
    conflictMode: options.conflictMode ?? "fine",
  });
}

/** Parks a job as omega.park_jobs does, on the cell's current capacity epoch (no lease needed). */
export async function parkOnCurrentEpoch(pool: Pool, jobId: number, cell = "east"): Promise<void> {
  await pool.query(
    "update omega.jobs set blocked = true, blocked_epoch = (select capacity_epoch from omega.cells where name = $2) where id = $1",
    [jobId, cell],
  );
}

/** Row counts of every state table: compare before and after a refused request. */
export async function rowCounts(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query(`
    select 'cells' as t, count(*)::int as n from omega.cells union all
    select 'machines', count(*)::int from omega.machines union all
    select 'tenants', count(*)::int from omega.tenants union all
    select 'jobs', count(*)::int from omega.jobs union all
    select 'tasks', count(*)::int from omega.tasks union all
    select 'claims', count(*)::int from omega.claims union all
    select 'quotas', count(*)::int from omega.quotas union all
    select 'plans', count(*)::int from omega.plans union all
    select 'events', count(*)::int from omega.events union all
    select 'machine_agents', count(*)::int from omega.machine_agents union all
    select 'agent_tokens', count(*)::int from omega.agent_tokens`);
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}
