import { readFileSync } from "node:fs";
import type { PoolClient } from "pg";
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
 * OMEGA_FUNCTIONS=1: times each function on this connection (track_functions; timing every call
 * costs a little, so it is off by default and figures compare across sessions). Call `reset` where
 * the timing starts and `print` at the end: functions by their own time (without the functions
 * they call), per call and per `unit`.
 */
export async function functionTiming(client: PoolClient) {
  const on = Boolean(process.env.OMEGA_FUNCTIONS);
  if (on) await client.query("set track_functions = 'all'");
  return {
    reset: async () => {
      if (on) await client.query("select pg_stat_reset()");
    },
    print: async (units: number, limit = 20) => {
      if (!on) return;
      // An idle backend reports its counts at most once a second: wait, end a transaction, read.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await client.query("select 1");
      const { rows } = await client.query(
        `select schemaname || '.' || funcname as name, calls, round((self_time / calls)::numeric * 1000) as self_us_per_call,
           round((self_time / $1)::numeric, 3) as self_ms_per_unit, round((total_time / $1)::numeric, 3) as total_ms_per_unit
         from pg_stat_user_functions order by self_time desc limit $2`,
        [units, limit],
      );
      console.table(rows);
    },
  };
}
