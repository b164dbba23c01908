import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves when the worker has started (it says so over the IPC channel); rejects if it exits first. */
  ready: Promise<void>;
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
    stdio: ["ignore", options.stdout ?? "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (message: { omega?: string }) => {
      if (message?.omega === "ready") resolve();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`the ${scheduler} worker exited (${signal ?? `code ${code}`}) before it was ready`)),
    );
  });
  ready.catch(() => {}); // callers that never wait for it must not see an unhandled rejection
  return {
    child,
    ready,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
