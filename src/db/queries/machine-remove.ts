import type { Pool } from "../pool.ts";
import { machineSetState } from "./machine-set-state.ts";

/**
 * Removes a machine in two transactions, as omega.remove_machine requires: first 'down' (no new
 * claim can land on it after that commits), then the removal, which locks the jobs holding claims
 * there before the machine, in the order every writer uses, and returns their tasks to pending.
 */
export async function machineRemove(pool: Pool, cell: string, name: string): Promise<void> {
  await machineSetState(pool, cell, name, "down");
  await pool.query("select from omega.remove_machine($1, $2)", [cell, name]);
}
