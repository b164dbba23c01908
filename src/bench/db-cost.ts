import type { Queryable } from "../db/queries/queryable.ts";

/** What the database spent between two readings. */
export interface DbCost {
  /** Transactions that wrote (were given a transaction id), from the server's xid counter. */
  writeTransactions: number;
  /**
   * Connections opened to the bench's database meanwhile (pg_stat_database.sessions): a warm
   * process opens none; each one opened is a backend started and its statements planned cold.
   */
  connectionsOpened: number;
  /** Execution time of top-level statements, from pg_stat_statements; null where it is not loaded. */
  statementMs: number | null;
  /**
   * The most expensive statements (mean ms per call, calls), top-level and nested in functions
   * alike, for finding where the time goes.
   */
  top: {
    toplevel: boolean;
    query: string;
    calls: number;
    meanMs: number;
    totalMs: number;
    plans: number;
    planMs: number;
    blocksPerCall: number;
  }[];
  /**
   * Functions by their own time (pg_stat_user_functions, without the functions they call), of the
   * connections that time them (trackFunctions; none otherwise): which PL/pgSQL steps a job's time
   * goes to.
   */
  functions: { name: string; calls: number; selfMs: number; selfUsPerCall: number; totalMs: number }[];
  /**
   * Analyzes of omega's tables meanwhile (ours and autovacuum's): each makes every connection plan
   * its statements on the table again.
   */
  analyzes: Record<string, number>;
}

export interface DbCostMeter {
  stop(): Promise<DbCost>;
}

/**
 * Reads the server's transaction-id counter and pg_stat_statements before and after a measurement.
 * Every other database on the server counts too: numbers are exact only on a bench's own server.
 */
export async function startDbCost(db: Queryable): Promise<DbCostMeter> {
  const statements = await hasStatements(db);
  if (statements) await db.query("select pg_stat_statements_reset()");
  const xid0 = await currentXid(db);
  const sessions0 = await databaseSessions(db);
  const functions0 = await functionTimes(db);
  const analyzes0 = await analyzeCounts(db);
  return {
    async stop() {
      // The reading itself takes one id.
      const writeTransactions = (await currentXid(db)) - xid0 - 1;
      const connectionsOpened = (await databaseSessions(db)) - sessions0;
      const functions = functionsSince(functions0, await functionTimes(db));
      const analyzes = Object.fromEntries(
        [...(await analyzeCounts(db))]
          .map(([table, n]) => [table, n - (analyzes0.get(table) ?? 0)] as const)
          .filter(([, n]) => n > 0),
      );
      if (!statements)
        return { writeTransactions, connectionsOpened, statementMs: null, top: [], functions, analyzes };
      // plans: how often the statement was planned (counted where pg_stat_statements.track_planning is on).
      const { rows } = await db.query<{
        toplevel: boolean;
        query: string;
        calls: number;
        total: number;
        plans: number;
        plan: number;
        blocks: number;
      }>(
        `select toplevel, query, calls::float8 as calls, total_exec_time as total, plans::float8 as plans, total_plan_time as plan,
                (shared_blks_hit + shared_blks_read)::float8 as blocks from pg_stat_statements
         where query not ilike '%pg_stat_statements%' order by total_exec_time desc`,
      );
      return {
        writeTransactions,
        connectionsOpened,
        statementMs: rows.filter((r) => r.toplevel).reduce((sum, r) => sum + r.total, 0),
        top: rows.slice(0, 25).map((r) => ({
          toplevel: r.toplevel,
          query: r.query.replace(/\s+/g, " ").slice(0, 160),
          calls: r.calls,
          meanMs: r.total / r.calls,
          totalMs: r.total,
          plans: r.plans,
          planMs: r.plan,
          blocksPerCall: Math.round(r.blocks / r.calls),
        })),
        functions,
        analyzes,
      };
    },
  };
}

/**
 * Times every function call in the bench's own database (track_functions = all, for the
 * connections opened from now on: the API's and the workers'), never in the rest of a server given
 * by DATABASE_URL; the database is dropped after the run. For profiling only: it reads the clock
 * twice a call.
 */
export async function trackFunctions(db: Queryable): Promise<void> {
  await db.query(`do $$ begin
    execute format('alter database %I set track_functions = %L', current_database(), 'all');
  end $$`);
}

/** What OMEGA_BENCH_PROFILE prints of a measurement: statements, functions, analyzes. */
export function printProfile(cost: DbCost): void {
  console.table(cost.top);
  console.table(cost.functions);
  console.log("analyzes:", cost.analyzes);
}

async function analyzeCounts(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query<{ relname: string; n: number }>(
    `select relname, (analyze_count + autoanalyze_count)::int as n
     from pg_stat_user_tables where schemaname = 'omega'`,
  );
  return new Map(rows.map((r) => [r.relname, r.n]));
}

type FunctionTimes = Map<string, { calls: number; self: number; total: number }>;

async function functionTimes(db: Queryable): Promise<FunctionTimes> {
  const { rows } = await db.query<{ name: string; calls: number; self: number; total: number }>(
    `select schemaname || '.' || funcname || '/' || funcid as name, calls::float8 as calls,
            self_time as self, total_time as total
     from pg_stat_user_functions`,
  );
  return new Map(rows.map((r) => [r.name, r]));
}

function functionsSince(before: FunctionTimes, after: FunctionTimes): DbCost["functions"] {
  return [...after]
    .map(([name, a]) => {
      const b = before.get(name) ?? { calls: 0, self: 0, total: 0 };
      const calls = a.calls - b.calls;
      const selfMs = a.self - b.self;
      return {
        name: name.replace(/\/\d+$/, ""),
        calls,
        selfMs: Math.round(selfMs),
        selfUsPerCall: calls > 0 ? Math.round((selfMs * 1000) / calls) : 0,
        totalMs: Math.round(a.total - b.total),
      };
    })
    .filter((f) => f.calls > 0)
    .sort((x, y) => y.selfMs - x.selfMs)
    .slice(0, 25);
}

async function currentXid(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ xid: string }>("select pg_current_xact_id()::text as xid");
  return Number(rows[0]?.xid ?? 0);
}

/** Connections opened to this database so far (pg_stat_database.sessions). */
export async function databaseSessions(db: Queryable): Promise<number> {
  // Counted as the backends report them: force the report of this one's first.
  await db.query("select pg_stat_force_next_flush()");
  const { rows } = await db.query<{ n: string }>(
    "select sessions::text as n from pg_stat_database where datname = current_database()",
  );
  return Number(rows[0]?.n ?? 0);
}

async function hasStatements(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ loaded: boolean }>(
    "select 'pg_stat_statements' = any(string_to_array(current_setting('shared_preload_libraries'), ',')) as loaded",
  );
  if (!rows[0]?.loaded) return false;
  await db.query("create extension if not exists pg_stat_statements");
  return true;
}
