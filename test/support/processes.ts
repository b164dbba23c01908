import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "../../src/net/free-port.ts";

export { freePort };

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

export interface OmegaProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `omega <args>` as a real process (what a user runs), capturing its output. */
export function omega(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string } = {},
): OmegaProcess {
  // A key set to undefined means "not set" (spawn would pass the string "undefined").
  const merged = Object.fromEntries(
    Object.entries({ ...process.env, LOG_LEVEL: "info", ...env }).filter(([, v]) => v !== undefined),
  );
  const child = spawn(process.execPath, [cli, ...args], {
    env: merged,
    stdio: ["ignore", "pipe", "pipe"],
    cwd: options.cwd,
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
