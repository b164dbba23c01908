import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { PessimisticTotals } from "./pessimistic-worker.ts";

const cli = fileURLToPath(new URL("../../bin/omega.js", import.meta.url));

export interface PessimisticSchedulers {
  /** SIGTERM: each finishes its plan, then reports its totals. */
  stop(): Promise<PessimisticTotals[]>;
}

/**
 * Starts `count` pessimistic scheduler processes (`omega bench pessimistic-worker`, hidden) on a
 * cell and resolves once each is connected and polling for work.
 */
export async function startPessimistic(
  url: string,
  options: { cell: string; scheduler: string; count: number; profiles?: string },
): Promise<PessimisticSchedulers> {
  const children = Array.from({ length: options.count }, () => {
    const child = spawn(
      process.execPath,
      [
        cli,
        "bench",
        "pessimistic-worker",
        "--cell",
        options.cell,
        "--scheduler",
        options.scheduler,
        ...(options.profiles ? ["--profiles", options.profiles] : []),
      ],
      {
        env: { ...process.env, DATABASE_URL: url, OMEGA_PARENT_PID: String(process.pid) },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const lines: string[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`pessimistic worker exited with code ${code}`)));
      createInterface({ input: child.stdout }).on("line", (line) => {
        lines.push(line);
        if (line === "ready") resolve();
      });
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return { child, lines, ready, exited };
  });
  await Promise.all(children.map((c) => c.ready));
  return {
    async stop() {
      for (const c of children) c.child.kill("SIGTERM");
      await Promise.all(children.map((c) => c.exited));
      return children.map((c) => JSON.parse(c.lines.at(-1) ?? "{}") as PessimisticTotals);
    },
  };
}
