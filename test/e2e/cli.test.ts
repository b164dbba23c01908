import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnWorker, type WorkerProcess } from "../../src/cli/worker-process.ts";
import { ADMIN, type Api, startApi } from "../support/api-client.ts";
import { freePort, omega, waitFor } from "../support/processes.ts";

let api: Api;
let worker: WorkerProcess;
let dir: string;
let tenantToken: string;

beforeAll(async () => {
  api = await startApi();
  dir = await mkdtemp(path.join(tmpdir(), "omega-cli-"));
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  for (const name of ["m1", "m2"]) {
    await api.call("PUT", `/v1/cells/east/machines/${name}`, {
      body: { resources: { cpu: "4", memory: "8Gi" } },
    });
  }
  worker = spawnWorker(api.db.url, "batch", { stdout: "ignore", env: { LOG_LEVEL: "warn" } });
  await worker.ready;
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `omega ARGS` as a user runs it, against the test server, with this token. */
async function cli(args: string[], token: string | undefined = ADMIN) {
  const proc = omega(args, { OMEGA_ADDR: api.url, OMEGA_TOKEN: token, LOG_LEVEL: "warn" });
  const code = await proc.exited;
  return { code, out: proc.output() };
}
const json = async (args: string[], token?: string) => {
  const { code, out } = await cli([...args, "--json"], token);
  expect(code, out).toBe(0);
  return JSON.parse(out);
};

describe("the client CLI, against a real server and worker", () => {
  it("--version", async () => {
    const { code, out } = await cli(["--version"]);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("tenant create and quota set (admin), as tables and as --json", async () => {
    const created = await json(["tenant", "create", "acme"]);
    expect(created).toMatchObject({ name: "acme", token: expect.stringMatching(/^omt_/) });
    tenantToken = created.token;
    const table = await cli(["tenant", "create", "beta"]);
    expect(table.out).toMatch(/Tenant beta created .*\n\s+omt_/);
    const quota = await json(["quota", "set", "acme", "east", "batch", "--cpu", "20", "--memory", "12Gi"]);
    expect(quota).toMatchObject({
      tenant: "acme",
      cell: "east",
      band: "batch",
      limit: { cpu: 20000, memory: 12288 },
    });
    expect((await cli(["quota", "list"], tenantToken)).out).toMatch(/acme\s+east\s+batch/);
  });

  it("job run (YAML and JSON), job status as a list and one job with placements and pending reasons", async () => {
    await writeFile(
      path.join(dir, "small.yaml"),
      "cell: east\nname: small\ntasks: 2\nresources: { cpu: '1', memory: 1Gi }\n",
    );
    await writeFile(
      path.join(dir, "huge.json"),
      JSON.stringify({ cell: "east", name: "huge", tasks: 1, resources: { cpu: "5" } }),
    );
    const small = await json(["job", "run", path.join(dir, "small.yaml")], tenantToken);
    expect(small).toMatchObject({ id: expect.any(Number), name: "small", tasks: 2 });
    const run = await cli(["job", "run", path.join(dir, "huge.json")], tenantToken);
    expect(run.out).toMatch(/^Job (\d+) submitted: 1 tasks in cell east/);
    const huge = Number(/^Job (\d+)/.exec(run.out)?.[1]);

    await waitFor(
      async () => (await json(["job", "status", String(small.id)], tenantToken)).state === "placed",
      30_000,
      "placed",
    );
    const detail = await json(["job", "status", String(small.id)], tenantToken);
    expect(detail.placements).toHaveLength(2);
    const shown = await cli(["job", "status", String(small.id)], tenantToken);
    expect(shown.out).toMatch(/State\s+= placed/);
    expect(shown.out).toMatch(/Placements\nTASK\s+MACHINE/);

    // A task of 5 cpus fits on no machine of 4: the reason, as counts of machines.
    await waitFor(
      async () =>
        (await json(["job", "status", String(huge)], tenantToken)).pendingReasons[0]?.reason.includes(
          "machines fit",
        ),
      30_000,
      "the pending reason",
    );
    expect((await cli(["job", "status", String(huge)], tenantToken)).out).toMatch(
      /Pending because\nTASKS\s+REASON\n1\s+0\/2 machines fit: 2 insufficient cpu/,
    );

    const list = await cli(["job", "status"], tenantToken);
    expect(list.out).toMatch(/^ID\s+NAME\s+TENANT\s+CELL\s+STATE/);
    expect(list.out).toMatch(new RegExp(`\\n${huge}\\s+huge\\s+acme\\s+east\\s+pending`));
    expect((await json(["job", "status"], tenantToken)).jobs.map((j: { id: number }) => j.id).sort()).toEqual(
      [small.id, huge].sort(),
    );
  });

  it("job events --follow streams until the job is cancelled (job cancel), then exits 0", async () => {
    const { id } = await json(["job", "run", path.join(dir, "small.yaml")], tenantToken);
    const follower = omega(["job", "events", String(id), "--follow"], {
      OMEGA_ADDR: api.url,
      OMEGA_TOKEN: tenantToken,
    });
    await waitFor(async () => follower.output().includes("submitted"), 20_000, "the first event");
    const cancel = await cli(["job", "cancel", String(id)], tenantToken);
    expect(cancel.out.trim()).toBe(`Job ${id} cancelled`);
    expect(await follower.exited).toBe(0);
    expect(follower.output()).toMatch(/job submitted[\s\S]*job cancelled\nJob \d+ cancelled\n$/);
    const events = await json(["job", "events", String(id)], tenantToken);
    expect(events.events.map((e: { kind: string }) => e.kind)).toContain("cancelled");
  });

  it("machine list and machine drain; top --once", async () => {
    const list = await cli(["machine", "list", "east"]);
    expect(list.out).toMatch(/^NAME\s+STATE\s+CPU\s+MEMORY/);
    expect(list.out).toMatch(/m1\s+up/);
    const drained = await cli(["machine", "drain", "east", "m2"]);
    expect(drained.out.trim()).toBe("Machine m2 of cell east is draining");
    expect(
      (await json(["machine", "list", "east"])).machines.find((m: { name: string }) => m.name === "m2").state,
    ).toBe("draining");
    const top = await cli(["top", "--once"]);
    expect(top.out).toMatch(/CELL east: 1\/2 machines up/);
    expect(top.out).toMatch(/cpu\s+\[#*\.*\]/);
  });

  it("errors are one plain line: a bad token, a missing job, an API that is not there", async () => {
    const bad = await cli(["job", "status"], "omt_nope");
    expect(bad.code).toBe(1);
    expect(bad.out.trim()).toMatch(/^omega: 401 Unauthorized: .* — set OMEGA_TOKEN or --token$/);
    const missing = await cli(["job", "status", "99999"], tenantToken);
    expect(missing.out.trim()).toBe("omega: 404 Not Found: job 99999 does not exist");
    const nobody = await freePort();
    const down = omega(["job", "status"], {
      OMEGA_ADDR: `http://127.0.0.1:${nobody}`,
      OMEGA_TOKEN: tenantToken,
    });
    expect(await down.exited).toBe(1);
    expect(down.output().trim()).toMatch(
      new RegExp(`^omega: cannot reach the omega API at http://127.0.0.1:${nobody} \\(connection refused\\)`),
    );
  });
});
