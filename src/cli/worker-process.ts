import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** SIGTERM (a graceful stop: running evaluations finish) and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts a real `omega worker --scheduler <scheduler> [...args]` process against `databaseUrl`;
 * `stdout: "pipe"` lets the caller read its log lines.
 */
export function spawnWorker(
  databaseUrl: string,
  scheduler: string,
  options: {
    env?: Record<string, string>;
    stdout?: "inherit" | "ignore" | "pipe";
    args?: string[];
    /** Node's own flags (a CPU profile, say). */
    nodeArgs?: string[];
  } = {},
): WorkerProcess {
  const args = [
    ...(options.nodeArgs ?? []),
    cli,
    "worker",
    "--scheduler",
    scheduler,
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, DATABASE_URL: databaseUrl, ...options.env },
    stdio: ["ignore", options.stdout ?? "inherit", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
