import { nextRun } from "../../periodic/cron.ts";
import type { Queryable } from "./queryable.ts";

/** omega.delete_periodic: no more launches (jobs already launched keep running). */
export async function periodicDelete(db: Queryable, id: number, tenant: string | null): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>("select omega.delete_periodic($1, $2) as found", [
    id,
    tenant,
  ]);
  return rows[0]?.found === true;
}

/**
 * omega.set_periodic_suspended: pause, or resume from the next scheduled time after the database's
 * now (what fell due while paused is not made up).
 */
export async function periodicSuspend(
  db: Queryable,
  id: number,
  tenant: string | null,
  suspended: boolean,
): Promise<boolean> {
  const { rows: found } = await db.query<{ schedule: string; time_zone: string; now: Date }>(
    "select schedule, time_zone, now() from omega.periodic where id = $1",
    [id],
  );
  const row = found[0];
  if (!row) return false;
  const next = suspended ? null : nextRun(row.schedule, row.time_zone, row.now);
  const { rows } = await db.query<{ found: boolean }>(
    "select omega.set_periodic_suspended($1, $2, $3, $4) as found",
    [id, tenant, suspended, next],
  );
  return rows[0]?.found === true;
}
