import { appendFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startEmbedded } from "../db/embedded.ts";

export interface BenchServer {
  url: string;
  /** "DATABASE_URL", "embedded" or "embedded, Unix socket" — said in every report. */
  kind: "DATABASE_URL" | "embedded" | "embedded, Unix socket";
  stop(): Promise<void>;
}

/**
 * The PostgreSQL server a benchmark runs on: DATABASE_URL's, or an embedded one of its own in a
 * temporary directory, with PostgreSQL's default durability (fsync and synchronous commit on), so
 * that what is measured is what a real deployment would get.
 */
export async function startBenchServer(): Promise<BenchServer> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, kind: "DATABASE_URL", stop: async () => {} };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "omega-bench-"));
  // pg_stat_statements: the reports give database time per job (src/bench/db-cost.ts).
  const logging = serverLog(process.env.OMEGA_BENCH_PG_LOG);
  const server = await startEmbedded(dir, {
    quiet: true,
    durable: true,
    ...logging,
    // Commit timestamps: how long each commit held its locks (src/bench/lock-holds.ts).
    settings: ["track_commit_timestamp=on", ...(logging.settings ?? [])],
    preload: ["pg_stat_statements", ...(logging.preload ?? [])],
  });
  // OMEGA_BENCH_SOCKET=1: the bench's processes on the server's Unix socket, as `omega start`'s
  // own processes are; TCP on 127.0.0.1 otherwise (every result before session 21).
  const socket = process.env.OMEGA_BENCH_SOCKET === "1" && server.localUrl !== undefined;
  return {
    url: socket ? (server.localUrl as string) : server.url,
    kind: socket ? "embedded, Unix socket" : "embedded",
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * OMEGA_BENCH_PG_LOG=FILE: the server's log is appended to FILE, with every lock wait longer than
 * 100 ms (deadlock_timeout, lowered from 1 s for this) and every deadlock in it, the waiter's
 * application and statement and the holder's pid, and the plan of every statement, nested ones
 * included, that took 120 ms or more (auto_explain): what a run that slows down was waiting for,
 * or what it ran instead; and every checkpoint and every autovacuum of a second or more, the
 * background writes a stall may line up with.
 */
function serverLog(file: string | undefined): {
  preload?: string[];
  settings?: string[];
  log?: (m: string) => void;
} {
  if (!file) return {};
  return {
    preload: ["auto_explain"],
    settings: [
      "log_lock_waits=on",
      "deadlock_timeout=100ms",
      "log_line_prefix=%m [%p] %a ",
      "auto_explain.log_min_duration=120ms",
      "auto_explain.log_nested_statements=on",
      "log_checkpoints=on",
      "log_autovacuum_min_duration=1s",
    ],
    log: (message: string) => appendFileSync(file, message.endsWith("\n") ? message : `${message}\n`),
  };
}
