import type { Resources } from "../../domain/resources.ts";
import type { Client } from "../pool.ts";
import { type Quota, quotaOf } from "./quota-list.ts";

/** Why a quota could not be set, as data: the route turns it into a 404 or 409. */
export type QuotaPutResult =
  | { ok: true; quota: Quota; created: boolean }
  | { ok: false; refusal: "no_tenant" | "no_cell" }
  | { ok: false; refusal: "below_usage"; used: Resources };

/**
 * Sets the quota of (tenant, cell, band); run it in a transaction. A limit below what the tenant's
 * claims already use is refused: invariant 3 (claims never exceed a quota) must hold on every row,
 * so the existing quota row is locked before usage is read in a later statement (a fresh snapshot).
 */
export async function quotaPut(
  tx: Client,
  tenant: string,
  cell: string,
  band: "batch" | "production",
  limit: Resources,
): Promise<QuotaPutResult> {
  const found = await tx.query<{ tenant_id: number | null; cell_exists: boolean }>(
    `select (select id from omega.tenants where name = $1) as tenant_id,
       exists (select from omega.cells where name = $2) as cell_exists`,
    [tenant, cell],
  );
  const tenantId = found.rows[0]?.tenant_id;
  if (tenantId == null) return { ok: false, refusal: "no_tenant" };
  if (!found.rows[0]?.cell_exists) return { ok: false, refusal: "no_cell" };
  await tx.query("select from omega.quotas where cell = $1 and tenant_id = $2 and band = $3 for update", [
    cell,
    tenantId,
    band,
  ]);
  const usage = await tx.query(
    `select coalesce(sum(cpu), 0)::bigint as cpu, coalesce(sum(memory), 0)::bigint as memory,
       coalesce(sum(gpu), 0)::bigint as gpu, coalesce(sum(disk), 0)::bigint as disk
     from omega.claims where cell = $1 and tenant_id = $2 and omega.band(priority) = $3`,
    [cell, tenantId, band],
  );
  const used = usage.rows[0] as Resources;
  if (used.cpu > limit.cpu || used.memory > limit.memory || used.gpu > limit.gpu || used.disk > limit.disk) {
    return { ok: false, refusal: "below_usage", used };
  }
  const { rows } = await tx.query(
    `insert into omega.quotas as q (cell, tenant_id, band, cpu, memory, gpu, disk)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (cell, tenant_id, band) do update
       set cpu = excluded.cpu, memory = excluded.memory, gpu = excluded.gpu, disk = excluded.disk
     returning (xmax = 0) as created, q.cpu as limit_cpu, q.memory as limit_memory, q.gpu as limit_gpu,
       q.disk as limit_disk`,
    [cell, tenantId, band, limit.cpu, limit.memory, limit.gpu, limit.disk],
  );
  const row = rows[0] as Record<string, unknown>;
  const quota = quotaOf({
    ...row,
    tenant,
    cell,
    band,
    used_cpu: used.cpu,
    used_memory: used.memory,
    used_gpu: used.gpu,
    used_disk: used.disk,
  });
  return { ok: true, quota, created: row.created === true };
}
