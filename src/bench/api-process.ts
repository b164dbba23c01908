import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { newAdminToken } from "../domain/tokens.ts";
import { freePort } from "../net/free-port.ts";

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

export interface ApiProcess {
  url: string;
  adminToken: string;
  stop(): Promise<void>;
}

/**
 * Node flags that write a CPU profile of a bench's child process when it exits, into
 * $OMEGA_BENCH_CPU_PROF (open it in Chrome's DevTools): where the API's and workers' time goes.
 */
export function cpuProfiling(): string[] {
  const dir = process.env.OMEGA_BENCH_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/**
 * A real `omega serve` process on a free loopback port, ready when /readyz says so. Its own
 * process, so the load generator and the server do not share an event loop.
 */
export async function startApiProcess(databaseUrl: string): Promise<ApiProcess> {
  const port = await freePort();
  const adminToken = newAdminToken();
  const child: ChildProcess = spawn(
    process.execPath,
    [...cpuProfiling(), cli, "serve", "--port", String(port), "--host", "127.0.0.1"],
    {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        OMEGA_ADMIN_TOKEN: adminToken,
        LOG_LEVEL: "warn",
        OMEGA_PARENT_PID: String(process.pid),
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`omega serve exited with code ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error("omega serve was not ready after 60 s");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    adminToken,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
