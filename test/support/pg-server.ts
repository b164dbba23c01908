import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../src/net/free-port.ts";

/**
 * A PostgreSQL 15 server from the system's binaries (Debian's postgresql-15, which is where the
 * plproxy extension is installed), in a temporary directory, on a free port of 127.0.0.1. As root
 * it runs as the `postgres` user. Durability off: these are test servers.
 */
export interface PgServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const BIN = "/usr/lib/postgresql/15/bin";

/** Why these servers cannot run here, or undefined when they can. */
export function pgServerUnavailable(options: { plproxy?: boolean } = {}): string | undefined {
  if (!existsSync(`${BIN}/initdb`)) return `${BIN}/initdb is missing (apt-get install postgresql-15)`;
  if (options.plproxy && !existsSync("/usr/share/postgresql/15/extension/plproxy.control"))
    return "the plproxy extension is missing (apt-get install postgresql-15-plproxy)";
  return undefined;
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim());
  return { uid: id("-u"), gid: id("-g") };
}

export async function startPgServer(): Promise<PgServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-pg-"));
  const user = runAs();
  if (user) await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o755);
  const data = path.join(dir, "data");
  const run = (args: string[]) => {
    const result = spawnSync(`${BIN}/pg_ctl`, args, { encoding: "utf8", ...user });
    if (result.status !== 0) throw new Error(`pg_ctl ${args[0]}: ${result.stderr}${result.stdout}`);
  };
  run(["initdb", "-s", "-D", data, "-o", "--auth=trust --encoding=UTF8 --locale=C"]);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
  ].join(" ");
  run(["start", "-w", "-s", "-D", data, "-l", path.join(dir, "log"), "-o", settings]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      try {
        run(["stop", "-s", "-D", data, "-m", "immediate"]);
      } catch {
        // already stopped
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
