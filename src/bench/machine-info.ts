import { cpus, totalmem } from "node:os";
import type { Pool } from "../db/pool.ts";

/** What every report starts with: the machine, the database, Node, and the exact command. */
export async function describeMachine(pool: Pool) {
  const { rows } = await pool.query<{ version: string }>("select version()");
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    postgres: rows[0]?.version.split(" on ")[0] ?? "unknown",
    node: process.version,
    command: `omega ${process.argv.slice(2).join(" ")}`,
    date: new Date().toISOString(),
  };
}
