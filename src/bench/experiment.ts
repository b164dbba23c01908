import type { Pool } from "../db/pool.ts";
import { trackFunctions } from "./db-cost.ts";

/**
 * Experiments on a bench's fresh database before its run: OMEGA_BENCH_SETUP_SQL (a trigger turned
 * off, a function replaced, a setting changed) runs once the cell exists and before the statistics
 * are taken, so that a change can be measured side by side without a migration. Statements apart
 * by `;;` run one by one, outside a transaction (ALTER SYSTEM needs that). With OMEGA_BENCH_PROFILE,
 * function calls are timed too.
 */
export async function runExperimentSetup(pool: Pool): Promise<void> {
  if (process.env.OMEGA_BENCH_PROFILE) await trackFunctions(pool);
  const sql = process.env.OMEGA_BENCH_SETUP_SQL;
  if (sql) for (const s of sql.split(";;")) await pool.query(s);
}
