import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { freePort, type OmegaProcess, omega, waitFor } from "../support/processes.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function start(dir: string, port: number): Promise<{ proc: OmegaProcess; token: string }> {
  // What a new user runs: no DATABASE_URL, so an embedded PostgreSQL under the data directory.
  const proc = omega(["start", "--port", String(port), "--data", path.join(dir, ".omega")], {
    DATABASE_URL: undefined,
    OMEGA_ADMIN_TOKEN: undefined,
    LOG_LEVEL: "warn",
  });
  const token = await waitFor(
    async () => /demo tenant:\s+demo \(token (\S+)\)/.exec(proc.output())?.[1],
    90_000,
    "the start banner",
  ).catch((error) => {
    throw new Error(`${error.message}; output:\n${proc.output()}`);
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    30_000,
    "/readyz",
  );
  return { proc, token };
}

it("npm start: embedded database, API, workers and demo cell; survives a restart on the same data", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-start-"));
  dirs.push(dir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  const first = await start(dir, port);
  expect(first.proc.output()).toContain("admin token:");
  const submit = await fetch(`${base}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${first.token}`, "content-type": "application/json" },
    body: JSON.stringify({ cell: "demo", tasks: 3, resources: { cpu: "500m", memory: "1Gi" } }),
  });
  expect(submit.status).toBe(201);
  const { id } = (await submit.json()) as { id: number };
  await waitFor(
    async () => {
      const r = await fetch(`${base}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${first.token}` } });
      return ((await r.json()) as { state: string }).state === "placed";
    },
    30_000,
    "the demo job to be placed",
  );
  expect(await first.proc.stop("SIGTERM")).toBe(0);

  const second = await start(dir, port);
  const again = await fetch(`${base}/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${second.token}` },
  });
  expect(((await again.json()) as { state: string }).state).toBe("placed");

  // Killed outright: its postmaster is orphaned with its postmaster.pid; the next start copes.
  await second.proc.stop("SIGKILL");
  const third = await start(dir, port);
  const still = await fetch(`${base}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${third.token}` } });
  expect(((await still.json()) as { state: string }).state).toBe("placed");
  expect(await third.proc.stop("SIGTERM")).toBe(0);
}, 240_000);
