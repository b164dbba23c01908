import { readFileSync } from "node:fs";
import type { PoolClient } from "pg";
import type { Pool } from "../src/db/pool.ts";

/** The cost scripts' small jobs (tasks of 10 millicores, 16 MiB), `jobs` of `tasks` each, in SQL. */
export async function submitSmallJobs(pool: Pool, jobs: number, tasks: number): Promise<void> {
  await pool.query(
    `select omega.submit_job('t', jsonb_build_object('cell', 'c', 'tasks', $2::int, 'resources', jsonb_build_object('cpu', 10, 'memory', 16)))
     from generate_series(1, $1)`,
    [jobs, tasks],
  );
}

/** A batch as the API's group commit sends it: jobs of 1–4 tasks, numbered from `first`. */
export function smallJobBatch(first: number, size: number) {
  return Array.from({ length: size }, (_, k) => ({
    tenant: "t",
    spec: { cell: "c", tasks: 1 + ((first + k) % 4), resources: { cpu: 100, memory: 128 } },
  }));
}

type MachineRow = { id: number; version: number };

/** Each pending task of the leased jobs on a random machine (`packed`: a job's tasks on one). */
export function randomPlacements(
  views: readonly { pendingTaskIds: readonly number[] }[],
  machines: readonly MachineRow[],
  packed = false,
) {
  const randomMachine = () => machines[Math.floor(Math.random() * machines.length)] as MachineRow;
  return views.flatMap((v) => {
    const packedOn = packed ? randomMachine() : undefined;
    return v.pendingTaskIds.map((taskId) => {
      const m = packedOn ?? randomMachine();
      return { taskId, machineId: m.id, machineVersion: m.version };
    });
  });
}

/** The backend process of a connection, for backendCpuMs. */
export async function backendPid(client: { query: PoolClient["query"] }): Promise<number> {
  const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
  return rows[0]?.pid ?? 0;
}

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
 * costs a little, so it is off by default and figures compare across sessions). Call `start` where
 * the timing starts and `print` at the end: functions by their own time (without the functions
 * they call) since `start`, per call and per `unit`. (Differences of pg_stat_user_functions, not a
 * reset: pg_stat_reset would clear the tables' counts that omega.refresh_statistics reads.)
 */
export async function functionTiming(client: PoolClient) {
  const on = Boolean(process.env.OMEGA_FUNCTIONS);
  if (on) await client.query("set track_functions = 'all'");
  type Row = { name: string; calls: number; self: number; total: number };
  const read = async (): Promise<Row[]> => {
    // An idle backend reports its counts at most once a second: wait, end a transaction, read.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await client.query("select 1");
    const { rows } = await client.query<Row>(
      `select schemaname || '.' || funcname as name, calls::float8 as calls, self_time as self, total_time as total
       from pg_stat_user_functions`,
    );
    return rows;
  };
  let before = new Map<string, Row>();
  return {
    start: async () => {
      if (on) before = new Map((await read()).map((r) => [r.name, r]));
    },
    print: async (units: number, limit = 20) => {
      if (!on) return;
      const since = (await read())
        .map((r) => {
          const b = before.get(r.name);
          return {
            name: r.name,
            calls: r.calls - (b?.calls ?? 0),
            self: r.self - (b?.self ?? 0),
            total: r.total - (b?.total ?? 0),
          };
        })
        .filter((r) => r.calls > 0)
        .sort((a, b) => b.self - a.self)
        .slice(0, limit);
      console.table(
        since.map((r) => ({
          name: r.name,
          calls: r.calls,
          self_us_per_call: Math.round((r.self / r.calls) * 1000),
          self_ms_per_unit: (r.self / units).toFixed(3),
          total_ms_per_unit: (r.total / units).toFixed(3),
        })),
      );
    },
  };
}
