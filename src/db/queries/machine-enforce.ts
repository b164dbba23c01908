import type { Queryable } from "./queryable.ts";

/**
 * omega.enforce_machine: evicts what must leave the machine now (tasks that do not tolerate its
 * NoExecute taints, or whose tolerationSeconds ran out; a drained machine's tasks), whole gangs, in
 * one transaction; queues the next run when a tolerationSeconds is still running. Returns the count.
 */
export async function enforceMachineRules(db: Queryable, cell: string, machineId: number): Promise<number> {
  const { rows } = await db.query<{ evicted: number; next_due: Date | null }>(
    "select * from omega.enforce_machine($1, $2)",
    [cell, machineId],
  );
  const row = rows[0];
  if (row?.next_due) {
    await db.query("select omega.queue_enforcement($1, $2, $3, 'due')", [cell, machineId, row.next_due]);
  }
  return row?.evicted ?? 0;
}

/** omega.enforce_machines: the same for every tainted or draining machine (the maintenance sweep). */
export async function enforceMachines(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select omega.enforce_machines() as n");
  return rows[0]?.n ?? 0;
}
