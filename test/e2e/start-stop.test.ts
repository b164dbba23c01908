import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { isAlive } from "../../src/instance/process-tree.ts";
import { freePort, omega, waitFor } from "../support/processes.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const newUserEnv = { DATABASE_URL: undefined, OMEGA_ADMIN_TOKEN: undefined, LOG_LEVEL: "warn" };

/** Pids of every process whose parent chain leads to `root` (itself included), from /proc. */
async function tree(rootPid: number): Promise<number[]> {
  const { readdir } = await import("node:fs/promises");
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (!stat) continue;
    parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
  }
  const found = [rootPid];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (found.includes(ppid) && !found.includes(pid)) {
        found.push(pid);
        grew = true;
      }
    }
  }
  return found;
}

it("a second omega start on live data refuses with the owner's pid, and leaves the first running; tokens and port survive a restart", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-lock-"));
  dirs.push(dir);
  const data = path.join(dir, ".omega");
  const port = await freePort();
  const first = omega(["start", "--port", String(port), "--data", data], newUserEnv);
  const banner = await waitFor(
    async () => /demo tenant:\s+demo \(token (\S+)\)/.exec(first.output())?.[1],
    90_000,
    "the banner",
  );
  expect(await readFile(path.join(data, "banner.txt"), "utf8")).toContain(banner);
  const pgPort = await readFile(path.join(data, "pg.port"), "utf8");

  const second = omega(["start", "--port", String(await freePort()), "--data", data], newUserEnv);
  expect(await second.exited).toBe(1);
  // One plain line, no JSON stack trace.
  expect(second.output().trim()).toMatch(
    new RegExp(
      `^omega: .*is in use by a running omega \\(pid ${first.child.pid}, http://localhost:${port}\\)`,
    ),
  );
  expect(second.output().trim().split("\n")).toHaveLength(1);
  // The first instance and its database are untouched.
  expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  const jobs = await fetch(`http://127.0.0.1:${port}/v1/jobs`, {
    headers: { authorization: `Bearer ${banner}` },
  });
  expect(jobs.status).toBe(200);

  expect(await first.stop("SIGTERM")).toBe(0);
  await expect(readFile(path.join(data, "omega.pid"), "utf8")).rejects.toThrow();

  // Same data again: same demo token, same embedded port.
  const again = omega(["start", "--port", String(port), "--data", data], newUserEnv);
  const token = await waitFor(
    async () => /demo tenant:\s+demo \(token (\S+)\)/.exec(again.output())?.[1],
    90_000,
  );
  expect(token).toBe(banner);
  expect(await readFile(path.join(data, "pg.port"), "utf8")).toBe(pgPort);
  expect(await again.stop("SIGTERM")).toBe(0);
}, 240_000);

it("omega migrate, serve and worker use the embedded database of ./.omega when DATABASE_URL is unset", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-local-"));
  dirs.push(dir);
  const port = await freePort();
  const started = omega(["start", "--port", String(port), "--no-demo"], newUserEnv, { cwd: dir });
  await waitFor(async () => started.output().includes("admin token:"), 90_000, "the banner");
  const migrate = omega(["migrate"], { ...newUserEnv, LOG_LEVEL: "info" }, { cwd: dir });
  expect(await migrate.exited).toBe(0);
  expect(migrate.output()).toContain("using the embedded database of .omega");
  const apiPort = await freePort();
  const serve = omega(["serve", "--port", String(apiPort)], newUserEnv, { cwd: dir });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status === 200,
    30_000,
    "serve",
  );
  expect(await serve.stop()).toBe(0);
  const worker = omega(
    ["worker", "--scheduler", "batch"],
    { ...newUserEnv, LOG_LEVEL: "info" },
    { cwd: dir },
  );
  await waitFor(async () => worker.output().includes("scheduler worker started"), 30_000, "the worker");
  expect(worker.output()).toContain("using the embedded database of .omega");
  expect(await worker.stop()).toBe(0);
  expect(await started.stop()).toBe(0);
  // Nothing running there any more: a clear one-line refusal.
  const orphan = omega(["migrate"], newUserEnv, { cwd: dir });
  expect(await orphan.exited).toBe(1);
  expect(orphan.output()).toMatch(/^omega: DATABASE_URL is not set and no embedded database is running/);
}, 180_000);

it("SIGTERM to the npm of `npm start` stops everything it started: no orphans", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-npm-"));
  dirs.push(dir);
  const port = await freePort();
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...newUserEnv }).filter(([, v]) => v !== undefined),
  ) as Record<string, string>;
  const npm = spawn("npm", ["start", "--", "--port", String(port), "--data", path.join(dir, ".omega")], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  npm.stdout?.on("data", (d) => {
    output += d;
  });
  npm.stderr?.on("data", (d) => {
    output += d;
  });
  await waitFor(async () => output.includes("admin token:"), 90_000, "the banner").catch((error) => {
    throw new Error(`${error.message}\n${output}`);
  });
  const pids = await tree(npm.pid as number);
  // npm, (its shell), omega start, two workers, the postmaster and its backends.
  expect(pids.length).toBeGreaterThanOrEqual(5);
  npm.kill("SIGTERM");
  await waitFor(
    async () => pids.every((pid) => !isAlive(pid)),
    30_000,
    "every process of npm start to exit",
  ).catch((error) => {
    throw new Error(`${error.message}; alive: ${pids.filter(isAlive).join(" ")}`);
  });
  expect((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status).toBeUndefined();
}, 180_000);
