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

it("npm start: embedded database, API, workers, demo cell and its agents; survives a restart on the same data", async () => {
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
  // The demo cell's simulated agents run what is placed: a job without a runtime until it is stopped,
  // one with a runtime until it succeeds.
  const short = await fetch(`${base}/v1/jobs`, {
    method: "POST",
    headers: { authorization: `Bearer ${first.token}`, "content-type": "application/json" },
    body: JSON.stringify({ cell: "demo", tasks: 2, resources: { cpu: "500m" }, runtime: "1s" }),
  });
  const shortId = ((await short.json()) as { id: number }).id;
  const stateOf = async (job: number, token: string) => {
    const r = await fetch(`${base}/v1/jobs/${job}`, { headers: { authorization: `Bearer ${token}` } });
    return ((await r.json()) as { state: string }).state;
  };
  await waitFor(async () => (await stateOf(id, first.token)) === "running", 30_000, "the demo job to run");
  await waitFor(
    async () => (await stateOf(shortId, first.token)) === "succeeded",
    30_000,
    "the short job to succeed",
  );
  expect(await first.proc.stop("SIGTERM")).toBe(0);

  const second = await start(dir, port);
  expect(await stateOf(id, second.token)).toBe("running");

  // Killed outright: its postmaster is orphaned with its postmaster.pid; the next start copes.
  await second.proc.stop("SIGKILL");
  const third = await start(dir, port);
  expect(await stateOf(id, third.token)).toBe("running");
  expect(await third.proc.stop("SIGTERM")).toBe(0);
}, 240_000);
