import type { Pool } from "../db/pool.ts";
import { tenantCreate } from "../db/queries/tenant-create.ts";
import { tenantRotateToken } from "../db/queries/tenant-rotate-token.ts";
import { newTenantToken } from "../domain/tokens.ts";

const ZONES = ["a", "b", "c"];

/**
 * A demo cell of 12 simulated machines in three zones (two of them with GPUs, tainted for ML
 * work) and a demo tenant whose token is issued anew on every start (tokens are stored hashed).
 */
export async function createDemo(pool: Pool): Promise<{ cell: string; tenant: string; token: string }> {
  const cell = "demo";
  await pool.query("insert into omega.cells (name) values ($1) on conflict do nothing", [cell]);
  for (let i = 0; i < 12; i++) {
    const gpu = i >= 10;
    await pool.query("select omega.put_machine($1, $2, $3, $4, $5)", [
      cell,
      `demo-${String(i + 1).padStart(2, "0")}`,
      { cpu: "8", memory: "32Gi", gpu: gpu ? 2 : 0, disk: "200Gi" },
      { zone: ZONES[i % ZONES.length], ...(gpu ? { accelerator: "h100" } : {}) },
      JSON.stringify(gpu ? [{ key: "dedicated", value: "ml" }] : []),
    ]);
  }
  const { token, hash } = newTenantToken();
  if (!(await tenantCreate(pool, "demo", hash))) await tenantRotateToken(pool, "demo", hash);
  return { cell, tenant: "demo", token };
}
