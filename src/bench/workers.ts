import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

/** Starts `count` real `omega worker` processes against `databaseUrl`. */
export function spawnWorkers(databaseUrl: string, scheduler: string, count: number) {
  return Array.from({ length: count }, () => {
    const child: ChildProcess = spawn(process.execPath, [cli, "worker", "--scheduler", scheduler], {
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "warn" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return {
      child,
      stop(): Promise<void> {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        return exited;
      },
    };
  });
}
