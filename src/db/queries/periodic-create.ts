import { nextRun } from "../../periodic/cron.ts";
import type { Queryable } from "./queryable.ts";

/**
 * omega.create_periodic, with the first scheduled time computed from the database's clock (the one
 * the launcher reads). The schedule and time zone were checked by the caller (scheduleError).
 */
export async function periodicCreate(
  db: Queryable,
  tenant: string,
  spec: { schedule: string; timeZone?: string } & Record<string, unknown>,
): Promise<number> {
  const { rows: clock } = await db.query<{ now: Date }>("select now()");
  const first = nextRun(
    spec.schedule,
    spec.timeZone ?? "UTC",
    new Date((clock[0]?.now ?? new Date()).getTime() - 1),
  );
  const { rows } = await db.query<{ id: string }>("select omega.create_periodic($1, $2, $3) as id", [
    tenant,
    spec,
    first,
  ]);
  return Number(rows[0]?.id);
}
