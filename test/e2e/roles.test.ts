import { afterAll, beforeAll, expect, it } from "vitest";
import { ADMIN, type Api, startApi } from "../support/api-client.ts";
import { rowCounts } from "../support/factories.ts";
import { freePort, type OmegaProcess, omega, waitFor } from "../support/processes.ts";
import { createLoginRole, type LoginRole } from "../support/roles.ts";

// A deployment as the README describes it: the API logs in as a member of omega_api, the worker as
// a member of omega_scheduler; neither may write a state table directly.
let api: Api;
let scheduler: LoginRole;
const processes: OmegaProcess[] = [];
beforeAll(async () => {
  api = await startApi({ as: "omega_api" });
  scheduler = await createLoginRole(api.db.url, "omega_scheduler");
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await scheduler?.drop();
  await api?.close();
});

function run(args: string[], databaseUrl: string): OmegaProcess {
  const proc = omega(args, { DATABASE_URL: databaseUrl, OMEGA_ADMIN_TOKEN: ADMIN });
  processes.push(proc);
  return proc;
}

it("an API and an omega worker running as the least-privilege roles place a job and cancel it", async () => {
  expect((await api.call("POST", "/v1/cells", { body: { name: "east" } })).status).toBe(201);
  for (const name of ["m1", "m2"]) {
    const put = await api.call("PUT", `/v1/cells/east/machines/${name}`, {
      body: { resources: { cpu: "4", memory: "8Gi" } },
    });
    expect(put.status).toBe(201);
  }
  // The API's own writes: a tenant (its token hash), a quota, a token rotation.
  expect((await api.call("POST", "/v1/tenants", { body: { name: "acme" } })).status).toBe(201);
  const quota = await api.call("PUT", "/v1/quotas/acme/east/batch", { body: { resources: { cpu: "8" } } });
  expect(quota.status).toBe(201);
  const token = (await api.call("POST", "/v1/tenants/acme/token")).body.token;

  const worker = run(["worker", "--scheduler", "batch"], scheduler.url);
  const submitted = await api.call("POST", "/v1/jobs", {
    token,
    body: { cell: "east", tasks: 3, resources: { cpu: "2", memory: "1Gi" } },
  });
  expect(submitted.status).toBe(201);
  const job = await waitFor(
    async () => {
      const r = await api.call("GET", `/v1/jobs/${submitted.body.id}`, { token });
      return r.body.state === "placed" ? r.body : undefined;
    },
    30_000,
    "the job to be placed",
  ).catch((error) => {
    throw new Error(`${error.message}; worker output:\n${worker.output()}`);
  });
  expect(job.placements).toHaveLength(3);
  const { rows } = await api.db.pool.query(
    "select p.scheduler, s.profile ->> 'name' as registered from omega.plans p join omega.schedulers s on s.name = p.scheduler",
  );
  expect(rows[0]).toEqual({ scheduler: "batch", registered: "batch" });

  const cancelled = await api.call("DELETE", `/v1/jobs/${job.id}`, { token });
  expect(cancelled.body).toEqual({ id: job.id, state: "cancelled" });
  const claims = await api.db.pool.query("select count(*)::int as n from omega.claims");
  expect(claims.rows[0].n).toBe(0);
  expect(worker.output()).not.toMatch(/permission denied/);
});

it("omega serve runs as the API role; worker and serve refuse a schema they may not migrate, and say so", async () => {
  const port = await freePort();
  const serve = run(["serve", "--port", String(port), "--host", "127.0.0.1"], apiRoleUrl());
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
    30_000,
    "omega serve to be ready",
  ).catch((error) => {
    throw new Error(`${error.message}; output:\n${serve.output()}`);
  });
  await serve.stop();

  // A migration on disk that the database has not seen yet: only the owner may apply it.
  const last = await api.db.pool.query(
    "delete from omega_meta.migrations where version = (select max(version) from omega_meta.migrations) returning *",
  );
  try {
    const before = await rowCounts(api.db.pool);
    for (const proc of [
      run(["worker", "--scheduler", "batch"], scheduler.url),
      run(["serve", "--port", String(port)], apiRoleUrl()),
    ]) {
      expect(await proc.exited).not.toBe(0);
      expect(proc.output()).toContain("schema not migrated; run omega migrate as the owner");
    }
    expect(await rowCounts(api.db.pool)).toEqual(before);
    const still = await api.db.pool.query(
      "select count(*)::int as n from omega_meta.migrations where version = $1",
      [last.rows[0].version],
    );
    expect(still.rows[0].n).toBe(0);
  } finally {
    const row = last.rows[0];
    await api.db.pool.query(
      "insert into omega_meta.migrations (version, name, checksum, applied_at) values ($1, $2, $3, $4)",
      [row.version, row.name, row.checksum, row.applied_at],
    );
  }
});

/** The login role the in-process API runs as (a member of omega_api). */
function apiRoleUrl(): string {
  if (!api.role) throw new Error("the API was not started as a role");
  return api.role.url;
}
