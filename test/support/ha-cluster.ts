import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "../../src/net/free-port.ts";
import { waitFor } from "./processes.ts";

/**
 * A real pg_auto_failover formation on this machine: a monitor, and `nodes` PostgreSQL servers (the
 * first becomes the primary, the others standbys with synchronous replication), each a `pg_autoctl`
 * keeper with its own data directory and port on 127.0.0.1. As root, everything runs as the
 * `postgres` user (initdb and postgres refuse root).
 *
 * The monitor's health checks are tightened (1 s instead of 5 s, a node unhealthy after 2 s instead
 * of 20 s, the dead primary's demotion awaited 3 s instead of 30 s) so that a drill fails over in
 * seconds; a production monitor keeps pg_auto_failover's defaults (see the README).
 */
export interface HaNode {
  name: string;
  port: number;
  dataDir: string;
  keeper: ChildProcess;
  /** A single-host URL of this node. */
  url: string;
}

export interface HaCluster {
  monitorUrl: string;
  nodes: HaNode[];
  /** The multi-host connection string the application uses. */
  url: string;
  /** The node the monitor names primary now, once it has reported being it. */
  primary(): Promise<HaNode | undefined>;
  /** Loses the primary's machine: SIGKILL to its keeper, then `pg_ctl -m immediate stop`. */
  killPrimary(): Promise<HaNode>;
  logs(): string;
  stop(): Promise<void>;
}

export const PG_AUTOCTL = "/usr/bin/pg_autoctl";
const BIN = "/usr/lib/postgresql/15/bin";

/** Why the HA tests cannot run here, or undefined when they can. */
export function haUnavailable(): string | undefined {
  if (!existsSync(PG_AUTOCTL))
    return `${PG_AUTOCTL} is missing (apt-get install postgresql-15-auto-failover)`;
  if (!existsSync(`${BIN}/pg_ctl`)) return `${BIN}/pg_ctl is missing (apt-get install postgresql-15)`;
  return undefined;
}

/** The uid/gid to run PostgreSQL as: `postgres` when we are root, ourselves otherwise. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  return { uid, gid };
}

export async function startHaCluster(
  options: {
    nodes?: number;
    /** Keep pg_auto_failover's default health checks and demotion wait (a production monitor's). */
    defaultTimeouts?: boolean;
    /**
     * The formation's number_sync_standbys once every node has joined (Default: pg_auto_failover's
     * 0). 1 needs two standbys: a commit then waits for one of them, even while the other is away.
     */
    numberSyncStandbys?: number;
  } = {},
): Promise<HaCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-ha-"));
  const user = runAs();
  if (user) await chown(dir, user.uid, user.gid);
  await chmod(dir, 0o755);
  const env = {
    PATH: `${BIN}:/usr/bin:/bin`,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, "config"),
    XDG_DATA_HOME: path.join(dir, "data"),
    XDG_RUNTIME_DIR: path.join(dir, "run"),
  };
  const keepers: ChildProcess[] = [];
  let output = "";
  const autoctl = (args: string[]) => {
    const child = spawn(PG_AUTOCTL, args, { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"], ...user });
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-200_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    keepers.push(child);
    return child;
  };
  const common = ["--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust", "--no-ssl"];

  const monitorPort = await freePort();
  const monitorDir = path.join(dir, "monitor");
  autoctl(["create", "monitor", "--pgdata", monitorDir, "--pgport", String(monitorPort), ...common, "--run"]);
  const monitorUrl = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`;
  const monitor = new pg.Pool({ connectionString: monitorUrl, max: 2 });
  monitor.on("error", () => {});
  const cluster: HaCluster = {
    monitorUrl,
    nodes: [],
    url: "",
    primary: async () => {
      const { rows } = await monitor.query<{ nodename: string }>(
        // wait_primary: a primary whose standby is away (after a failover, until the old node rejoins).
        `select nodename from pgautofailover.node
         where reportedstate = goalstate and goalstate in ('single', 'primary', 'wait_primary')`,
      );
      return cluster.nodes.find((n) => n.name === rows[0]?.nodename);
    },
    killPrimary: async () => {
      const node = await cluster.primary();
      if (!node) throw new Error("no primary to kill");
      killKeeper(node.keeper);
      execFileSync(`${BIN}/pg_ctl`, ["-D", node.dataDir, "-m", "immediate", "stop"], {
        env,
        stdio: "ignore",
        ...user,
      });
      return node;
    },
    logs: () => output,
    stop: async () => {
      await monitor.end().catch(() => {});
      await Promise.all(keepers.map(stopKeeper));
      // A keeper killed by SIGKILL leaves its postgres behind: stop every data directory we made.
      for (const d of [monitorDir, ...cluster.nodes.map((n) => n.dataDir)]) {
        try {
          execFileSync(`${BIN}/pg_ctl`, ["-D", d, "-m", "immediate", "stop"], {
            env,
            stdio: "ignore",
            ...user,
          });
        } catch {
          // not running
        }
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      async () => (await monitor.query("select from pgautofailover.node limit 0")) && true,
      60_000,
      "the pg_auto_failover monitor",
    );
    if (!options.defaultTimeouts) await tightenHealthChecks(monitorPort);
    const count = options.nodes ?? 2;
    for (let i = 1; i <= count; i++) {
      const port = await freePort();
      const name = `node${i}`;
      const dataDir = path.join(dir, name);
      const keeper = autoctl([
        "create",
        "postgres",
        "--pgdata",
        dataDir,
        "--pgport",
        String(port),
        "--name",
        name,
        "--dbname",
        "postgres",
        "--monitor",
        monitorUrl,
        ...common,
        "--run",
      ]);
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      cluster.nodes.push({ name, port, dataDir, keeper, url });
      // One node at a time: a standby clones the primary, which must exist first.
      await waitFor(
        async () => {
          const { rows } = await monitor.query<{ n: number }>(
            `select count(*)::int as n from pgautofailover.node
             where reportedstate = goalstate and goalstate in ('single', 'primary', 'secondary')`,
          );
          return rows[0]?.n === i;
        },
        120_000,
        `${name} to join the formation`,
      );
    }
    if (options.numberSyncStandbys !== undefined) {
      await setNumberSyncStandbys(monitorPort, options.numberSyncStandbys);
      // The primary applies it (apply_settings) and every node settles again.
      await waitFor(
        async () => {
          const { rows } = await monitor.query<{ n: number }>(
            `select count(*)::int as n from pgautofailover.node
             where reportedstate = goalstate and goalstate in ('primary', 'secondary')`,
          );
          return rows[0]?.n === count;
        },
        120_000,
        `number_sync_standbys ${options.numberSyncStandbys} to be applied`,
      );
    }
    const hosts = cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
    cluster.url = `postgres://postgres@${hosts}/postgres?target_session_attrs=read-write`;
    return cluster;
  } catch (error) {
    const logs = output.slice(-5000);
    await cluster.stop();
    throw new Error(`${(error as Error).message}\n${logs}`);
  }
}

async function setNumberSyncStandbys(port: number, n: number): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${port}/pg_auto_failover`,
  });
  await client.connect();
  try {
    await client.query("select pgautofailover.set_formation_number_sync_standbys('default', $1)", [n]);
  } finally {
    await client.end();
  }
}

async function tightenHealthChecks(port: number): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${port}/pg_auto_failover`,
  });
  await client.connect();
  try {
    for (const [name, value] of [
      ["health_check_period", 1000],
      ["health_check_timeout", 1000],
      ["health_check_retry_delay", 500],
      ["health_check_max_retries", 1],
      ["node_considered_unhealthy_timeout", 2000],
      ["primary_demote_timeout", 3000],
    ] as const) {
      await client.query(`alter system set pgautofailover.${name} = ${value}`);
    }
    await client.query("select pg_reload_conf()");
  } finally {
    await client.end();
  }
}

/** The keeper's whole process tree except postgres itself (the supervisor and its services). */
function keeperProcesses(pid: number): number[] {
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  };
  const isKeeper = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("pg_autoctl");
    } catch {
      return false;
    }
  };
  const found: number[] = [];
  const walk = (p: number) => {
    if (!isKeeper(p)) return;
    found.push(p);
    for (const c of children(p)) walk(c);
  };
  walk(pid);
  return found;
}

/** A machine lost: the keeper dies without a word (its postgres is left for pg_ctl to kill). */
function killKeeper(keeper: ChildProcess): void {
  if (keeper.pid === undefined) return;
  for (const pid of keeperProcesses(keeper.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function stopKeeper(keeper: ChildProcess): Promise<void> {
  if (keeper.exitCode !== null || keeper.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => keeper.once("exit", () => resolve()));
  keeper.kill("SIGTERM"); // pg_autoctl stops its postgres (fast) and exits
  const timer = setTimeout(() => killKeeper(keeper), 15_000);
  await exited;
  clearTimeout(timer);
}
