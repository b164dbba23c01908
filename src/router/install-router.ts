import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { toKeywordForm } from "../db/connection-string.ts";

const ROUTER_SQL = fileURLToPath(new URL("../../router/router.sql", import.meta.url));

/** Quotes a string as an SQL literal (the SQL/MED options take no parameters). */
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * Makes `routerUrl`'s database the PL/Proxy router over `partitionUrls` (p0, p1, … in that order;
 * PL/Proxy needs a power of two): (re)creates the SQL/MED server `omega_partitions` naming them,
 * then applies router/router.sql. Each partition URL is a libpq connection string, so a partition
 * that is itself a pg_auto_failover formation is given as `postgres://a,b/db?target_session_attrs=
 * read-write`. Safe to run again: with a new list of partitions it replaces the old one (moving a
 * cell, not this, is how cells change partition: see the README).
 */
export async function installRouter(routerUrl: string, partitionUrls: readonly string[]): Promise<void> {
  const n = partitionUrls.length;
  if (n === 0 || (n & (n - 1)) !== 0)
    throw new Error(`PL/Proxy needs a power of two of partitions (1, 2, 4, 8…); got ${n}`);
  const client = new pg.Client({ connectionString: routerUrl, application_name: "omega-migrate" });
  await client.connect();
  try {
    await client.query("begin");
    // One installer at a time (the key is arbitrary; `omega migrate` on partitions uses its own).
    await client.query("select pg_advisory_xact_lock(7236, 1)");
    await client.query("create extension if not exists plproxy");
    await client.query("drop server if exists omega_partitions cascade");
    // Keyword form: PL/Proxy appends ` user=…` to each string, which a URL would swallow.
    const options = partitionUrls.map((url, i) => `p${i} ${literal(toKeywordForm(url))}`).join(", ");
    await client.query(`create server omega_partitions foreign data wrapper plproxy options (${options})`);
    await client.query("create user mapping for public server omega_partitions");
    await client.query(await readFile(ROUTER_SQL, "utf8"));
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}
