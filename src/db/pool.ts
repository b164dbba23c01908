import pg from "pg";
import { type ConnectionTargets, parseConnectionString } from "./connection-string.ts";
import { multiHostClient } from "./multi-host-client.ts";

// bigint columns (ids, quantities) fit in a double for every value the schema allows (≤ 10^12 per
// quantity, ids from sequences), so parse them as numbers rather than strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Pool = pg.Pool;
export type Client = pg.PoolClient;

/**
 * A pool on `connectionString`. A multi-host string (`postgres://a:5432,b:5432/db`, `host=a,b`) or
 * one with target_session_attrs gets a Client that picks the host and checks it takes writes (see
 * multi-host-client.ts); a plain one is node-postgres's own.
 */
export function createPool(connectionString: string, options: { max?: number; name?: string } = {}): pg.Pool {
  const targets = multiHostTargets(connectionString);
  const pool = new pg.Pool({
    connectionString,
    ...(targets ? { Client: multiHostClient(targets).Client } : {}),
    max: options.max ?? 10,
    application_name: options.name ?? "omega",
    connectionTimeoutMillis: 10_000,
    // Connections are kept through lulls (node-postgres closes them after 10 s idle by default): a
    // new one costs a backend start, authentication, and the planning of every hot statement
    // again, so a burst after a quiet spell ran on cold connections (latency bench: accept p99 of
    // the first seconds at 1,000 jobs/s, 5.4 s cold against 1.1 s warm). 0: never closed for idling.
    idleTimeoutMillis: 0,
  });
  // An idle client that loses its connection (database restart) must not crash the process.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  keepConnectionsAfterRefusals(pool);
  return pool;
}

/**
 * SQLSTATE classes after which a connection may be unusable or pointed at the wrong server:
 * connection exceptions, invalid transaction state (25006: a primary demoted to a read-only
 * standby), insufficient resources, operator intervention (shutdown, terminated), system and
 * internal errors. A connection is given back for reuse after any other database error.
 */
const UNTRUSTED_AFTER = new Set(["08", "25", "53", "57", "58", "XX"]);

/**
 * node-postgres's Pool.query gives its connection back destroyed after any error, a refusal too
 * (OM422, OM404, a quota's OM429: an SQLSTATE from a statement that ended cleanly), so every
 * refused submission cost a backend: a new connection (~20 ms) whose first statements are planned
 * cold (the first submission ~38 ms against 2–3, session 14), and the warm-ups at start were undone
 * a refusal at a time. 200 refused queries on a pool of two: 200 backends and 5.2 s. Here a
 * statement's refusal keeps the connection; a broken one still goes.
 */
function keepConnectionsAfterRefusals(pool: pg.Pool): void {
  const callbackQuery = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  const promiseQuery = async (...args: unknown[]) => {
    const client = await pool.connect();
    try {
      const result = await (client.query as (...a: unknown[]) => Promise<unknown>)(...args);
      client.release();
      return result;
    } catch (error) {
      const refusal =
        error instanceof pg.DatabaseError && !UNTRUSTED_AFTER.has(error.code?.slice(0, 2) ?? "XX");
      client.release(refusal ? undefined : (error as Error));
      throw error;
    }
  };
  // (The callback form, which nothing here uses, keeps node-postgres's own behaviour.)
  const query = (...args: unknown[]) =>
    typeof args.at(-1) === "function" ? callbackQuery(...args) : promiseQuery(...args);
  pool.query = query as typeof pool.query;
}

/**
 * The hosts to choose from when the string names several or asks for a read-write session;
 * undefined for anything else, which node-postgres reads as it always has (a form this parser does
 * not know, such as a Unix socket path, included).
 */
function multiHostTargets(connectionString: string): ConnectionTargets | undefined {
  try {
    const targets = parseConnectionString(connectionString);
    return targets.targets.length > 1 || targets.readWrite ? targets : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` in one transaction on one connection; rolls back when it throws. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
