import { cpus, totalmem } from "node:os";
import type { Queryable } from "../db/queries/queryable.ts";

export interface MachineInfo {
  cores: number;
  cpu: string;
  memoryGiB: number;
  postgres: string;
  /** The settings that move commit cost the most. */
  postgresSettings: Record<string, string>;
  /** "embedded" (a server of the bench's own) or "DATABASE_URL" (shared with whatever else uses it). */
  server: string;
  node: string;
  command: string;
  date: string;
}

/** What every report starts with: the machine, the database, Node, and the exact command. */
export async function describeMachine(db: Queryable, server: string): Promise<MachineInfo> {
  const { rows } = await db.query<{ version: string }>("select version()");
  const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
    `select name, setting, unit from pg_settings
     where name in ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections') order by name`,
  );
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    postgres: rows[0]?.version.split(" on ")[0] ?? "unknown",
    postgresSettings: Object.fromEntries(
      settings.rows.map((s) => [
        s.name,
        s.unit === "8kB" ? `${(Number(s.setting) * 8) / 1024}MB` : s.setting,
      ]),
    ),
    server,
    node: process.version,
    command: `omega ${process.argv.slice(2).join(" ")}`,
    date: new Date().toISOString(),
  };
}

/** One line for the console. */
export function machineLine(m: MachineInfo): string {
  const s = m.postgresSettings;
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, ${m.postgres} (${m.server}; fsync=${s.fsync}, synchronous_commit=${s.synchronous_commit}), Node ${m.node}`;
}
