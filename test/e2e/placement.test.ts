import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let api: Api;
let workers: OmegaProcess[];
let token: string;
beforeAll(async () => {
  api = await startApi();
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  for (let i = 1; i <= 4; i++) {
    await api.call("PUT", `/v1/cells/east/machines/m${i}`, {
      body: { resources: { cpu: "4", memory: "16Gi" }, labels: { zone: i % 2 ? "a" : "b" } },
    });
  }
  token = (await api.call("POST", "/v1/tenants", { body: { name: "acme" } })).body.token;
  workers = [
    omega(["worker", "--scheduler", "batch"], { DATABASE_URL: api.db.url }),
    omega(["worker", "--scheduler", "service"], { DATABASE_URL: api.db.url }),
  ];
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api.close();
});

it("a tenant's job is placed by the worker processes; HTTP and omega.placements agree; cancel releases every claim", async () => {
  const submitted = await api.call("POST", "/v1/jobs", {
    token,
    body: {
      name: "web",
      cell: "east",
      tasks: 6,
      resources: { cpu: "1", memory: "2Gi" },
      constraints: { maxPerMachine: 2 },
    },
  });
  expect(submitted.status).toBe(201);
  const id = submitted.body.id;

  const job = await waitFor(
    async () => {
      const r = await api.call("GET", `/v1/jobs/${id}`, { token });
      return r.body.state === "placed" ? r.body : undefined;
    },
    30_000,
    "the job to be placed",
  );
  expect(job.placements).toHaveLength(6);
  expect(job.pendingReasons).toEqual([]);

  const { rows } = await api.db.pool.query(
    "select task_id, machine from omega.placements where job_id = $1 order by task_id",
    [id],
  );
  expect(rows).toEqual(
    [...job.placements]
      .sort((a: { taskId: number }, b: { taskId: number }) => a.taskId - b.taskId)
      .map((p: { taskId: number; machine: string }) => ({ task_id: p.taskId, machine: p.machine })),
  );
  const perMachine = await api.db.pool.query(
    "select machine, count(*)::int as n from omega.placements where job_id = $1 group by machine",
    [id],
  );
  for (const r of perMachine.rows) expect(r.n).toBeLessThanOrEqual(2);

  const cancelled = await api.call("DELETE", `/v1/jobs/${id}`, { token });
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.state).toBe("cancelled");
  const left = await api.db.pool.query(
    `select (select count(*)::int from omega.claims where job_id = $1) as claims,
            (select sum(used_cpu)::int from omega.machine_usage) as used`,
    [id],
  );
  expect(left.rows[0]).toEqual({ claims: 0, used: 0 });
});

it("a job that cannot fit says why in GET /v1/jobs/:id", async () => {
  const submitted = await api.call("POST", "/v1/jobs", {
    token,
    body: {
      cell: "east",
      tasks: 1,
      resources: { cpu: "1", memory: "1Gi" },
      constraints: { selector: { zone: "z" } },
    },
  });
  const reasons = await waitFor(
    async () => {
      const r = await api.call("GET", `/v1/jobs/${submitted.body.id}`, { token });
      return r.body.blocked ? r.body.pendingReasons : undefined;
    },
    30_000,
    "the job to be parked",
  );
  expect(reasons).toEqual([{ reason: "0/4 machines fit: 4 selector mismatch", tasks: 1 }]);
});
