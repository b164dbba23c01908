import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { createTestDatabase } from "../support/database.ts";
import { freePort, omega, waitFor } from "../support/processes.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const fresh = { DATABASE_URL: undefined, OMEGA_ADMIN_TOKEN: undefined };

it("at rest, a running demo logs nothing at info; every line has its component; the banner comes last; a stop with the database gone is bounded", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-logs-"));
  dirs.push(dir);
  const port = await freePort();
  const data = path.join(dir, ".omega");
  const proc = omega(["start", "--port", String(port), "--data", data], {
    ...fresh,
    LOG_LEVEL: "info",
    LOG_FORMAT: "json",
    OMEGA_SHUTDOWN_TIMEOUT: "4000",
  });
  await waitFor(async () => proc.output().includes("Stop with Ctrl-C"), 90_000, "the banner");
  // The banner is the last thing start-up prints (workers and agents are up before it).
  await new Promise((r) => setTimeout(r, 1000));
  const atBanner = proc.output();
  // (The tail, so that a failure shows what came after the banner.)
  expect(atBanner.trimEnd().slice(-400)).toMatch(/this text is kept in \.omega\/banner\.txt\.$/);
  const banner = await readFile(path.join(data, "banner.txt"), "utf8");
  expect(atBanner).toContain(banner.trim());

  // 12 simulated agents heartbeat every 2 s and poll every second: none of it at info.
  await new Promise((r) => setTimeout(r, 5000));
  const rest = proc.output().slice(atBanner.length).trim();
  expect(rest).toBe("");
  const lines = atBanner
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { component?: string });
  expect(lines.length).toBeGreaterThan(3);
  const components = new Set(lines.map((l) => l.component));
  expect(lines.every((l) => l.component !== undefined)).toBe(true);
  expect([...components].sort()).toEqual(["agent", "api", "worker:batch", "worker:service"]);

  // The database dies under it (SIGKILL of the postmaster): SIGTERM still ends within the bound.
  const postmaster = Number((await readFile(path.join(data, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
  process.kill(postmaster, "SIGKILL");
  await new Promise((r) => setTimeout(r, 500));
  const started = Date.now();
  const code = await proc.stop("SIGTERM");
  expect(Date.now() - started).toBeLessThan(8000);
  expect(code === 0 || code === 1).toBe(true);
}, 180_000);

it("on a terminal the log is pretty; a port in use is one plain line with what to do", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-port-"));
  dirs.push(dir);
  const taken = createServer().listen(0, "0.0.0.0");
  await new Promise((r) => taken.once("listening", r));
  const port = (taken.address() as { port: number }).port;
  const proc = omega(["start", "--port", String(port), "--data", path.join(dir, ".omega"), "--no-demo"], {
    ...fresh,
    LOG_LEVEL: "info",
    LOG_FORMAT: "pretty",
  });
  expect(await proc.exited).toBe(1);
  taken.close();
  const out = proc.output();
  expect(out).toContain(`omega: port ${port} is in use — is omega already running? use --port`);
  expect(out).not.toMatch(/"level":|\n\s+at /);
  // Pretty lines: time, level, [component] message.
  const db = await createTestDatabase();
  try {
    const migrate = omega(["migrate"], { DATABASE_URL: db.url, LOG_LEVEL: "info", LOG_FORMAT: "pretty" });
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: \[migrate\] already up to date$/m);
  } finally {
    await db.drop();
  }
}, 120_000);
