import { readFileSync } from "node:fs";
import type { Pool } from "../src/db/pool.ts";

/** User + system CPU time of a process (a PostgreSQL backend), in ms (clock ticks of 10 ms). */
export function backendCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Prints this database's costliest statements from pg_stat_statements (unless OMEGA_QUIET): calls,
 * plans, mean execution and planning time, buffers per call, and statement time per `unit` (a job).
 */
export async function printTopStatements(pool: Pool, units: number, limit = 30): Promise<void> {
  if (process.env.OMEGA_QUIET) return;
  const { rows } = await pool
    .query(
      `select calls, plans, round(mean_exec_time::numeric, 3) as mean_ms, round(mean_plan_time::numeric, 3) as plan_ms,
         (shared_blks_hit + shared_blks_read) / nullif(calls, 0) as blocks,
         round(total_exec_time::numeric / $1, 3) as ms_per_unit,
         left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
       from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
       order by total_exec_time desc limit $2`,
      [units, limit],
    )
    .catch(() => ({ rows: [] }));
  console.table(rows);
}

/**
 * Prints this database's functions by their own time (pg_stat_user_functions, without the
 * functions they call), per `unit` (a plan), for the sessions that set track_functions.
 */
export async function printTopFunctions(pool: Pool, units: number, limit = 20): Promise<void> {
  if (process.env.OMEGA_QUIET) return;
  const { rows } = await pool.query(
    `select schemaname || '.' || funcname as name, calls, round((self_time / $1)::numeric, 3) as self_ms_per_unit,
       round((total_time / $1)::numeric, 3) as total_ms_per_unit
     from pg_stat_user_functions order by self_time desc limit $2`,
    [units, limit],
  );
  console.table(rows);
}
