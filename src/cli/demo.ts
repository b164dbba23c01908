import type { Simulator } from "../agent/simulator.ts";
import type { Pool } from "../db/pool.ts";
import { agentTokenRotate } from "../db/queries/agent-token-rotate.ts";
import { tenantCreate } from "../db/queries/tenant-create.ts";
import { tenantRotateToken } from "../db/queries/tenant-rotate-token.ts";
import { newAgentToken, newTenantToken, sha256 } from "../domain/tokens.ts";
import { storedToken } from "../instance/stored-token.ts";
import type { Logger } from "../log.ts";

const ZONES = ["a", "b", "c"];
/** demo-01 … demo-12: the names `omega agent --simulate 12 --cell demo` runs. */
const DEMO_MACHINES = 12;

/**
 * A demo cell of 12 simulated machines in three zones (two of them with GPUs, tainted for ML
 * work), a demo tenant, and the cell's agent token. The demo tenant's token is kept in
 * `<dataDir>/demo-token`, so it stays the same across restarts (the database holds only its hash);
 * the agent token is internal and issued anew each time.
 */
export async function createDemo(
  pool: Pool,
  dataDir: string,
): Promise<{ cell: string; tenant: string; token: string; agentToken: string }> {
  const cell = "demo";
  await pool.query("insert into omega.cells (name) values ($1) on conflict do nothing", [cell]);
  for (let i = 0; i < DEMO_MACHINES; i++) {
    const gpu = i >= 10;
    await pool.query("select omega.put_machine($1, $2, $3, $4, $5)", [
      cell,
      `demo-${String(i + 1).padStart(2, "0")}`,
      { cpu: "8", memory: "32Gi", gpu: gpu ? 2 : 0, disk: "200Gi" },
      { zone: ZONES[i % ZONES.length], ...(gpu ? { accelerator: "h100" } : {}) },
      JSON.stringify(gpu ? [{ key: "dedicated", value: "ml" }] : []),
    ]);
  }
  const token = await storedToken(dataDir, "demo-token", () => newTenantToken().token);
  const hash = sha256(token);
  if (!(await tenantCreate(pool, "demo", hash))) await tenantRotateToken(pool, "demo", hash);
  const agent = newAgentToken();
  await agentTokenRotate(pool, cell, agent.hash);
  return { cell, tenant: "demo", token, agentToken: agent.token };
}

/** The demo cell's machines come alive: simulated agents run what is placed on them, over the API. */
export async function startDemoAgents(
  apiUrl: string,
  demo: { cell: string; agentToken: string },
  logger: Logger,
): Promise<Simulator> {
  const { startSimulator } = await import("../agent/simulator.ts");
  return startSimulator(
    {
      url: apiUrl,
      token: demo.agentToken,
      cell: demo.cell,
      machines: DEMO_MACHINES,
      failRate: 0,
      heartbeatMs: 2_000,
      pollMs: 1_000,
      shape: { resources: { cpu: "8", memory: "32Gi" } },
    },
    logger,
  );
}
