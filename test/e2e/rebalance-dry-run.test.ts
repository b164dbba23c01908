import { afterAll, beforeAll, expect, it } from "vitest";
import { ADMIN, type Api, startApi } from "../support/api-client.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  rowCounts,
  submitJob,
} from "../support/factories.ts";

let api: Api;
let tenant: string;
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  tenant = (await makeTenant(api.db.pool)).token;
  const hot = await makeMachine(api.db.pool, { name: "hot", cpu: 4000, memory: 8192 });
  for (const name of ["cold-1", "cold-2"]) await makeMachine(api.db.pool, { name, cpu: 4000, memory: 8192 });
  const job = await submitJob(api.db.pool, { tasks: 4, resources: { cpu: 1000, memory: 1024 } });
  const tasks = await pendingTaskIds(api.db.pool, job);
  await commitPlan(
    api.db.pool,
    tasks.map((taskId) => ({ taskId, machineId: hot.id, version: hot.version })),
  );
});
afterAll(() => api.close());

it("lists the moves the rebalancer would make, and makes none", async () => {
  const before = await rowCounts(api.db.pool);
  const reply = await api.call("GET", "/v1/cells/east/rebalance?dryRun=true", { token: ADMIN });
  expect(reply.status, reply.text).toBe(200);
  expect(reply.body).toMatchObject({ cell: "east", scheduler: "rebalance", dryRun: true });
  // 100% on `hot`, 0% elsewhere: moves to the cold machines until `hot` is at most 70%.
  expect(reply.body.moves.length).toBe(2);
  for (const move of reply.body.moves)
    expect(move).toMatchObject({ from: "hot", strategy: "LowNodeUtilization", forJob: null });
  expect(new Set(reply.body.moves.map((m: { to: string }) => m.to))).toEqual(new Set(["cold-1", "cold-2"]));
  expect(reply.body.before.utilisationSpread).toBe(1);
  expect(reply.body.after.utilisationSpread).toBeLessThan(1);
  expect(await rowCounts(api.db.pool)).toEqual(before);
  const { rows } = await api.db.pool.query("select count(*)::int as n from omega.moves");
  expect(rows[0].n).toBe(0);
});

it("serves only dry runs, to the admin, of cells that exist and rebalancing schedulers", async () => {
  expect((await api.call("GET", "/v1/cells/east/rebalance", { token: ADMIN })).status).toBe(422);
  expect((await api.call("GET", "/v1/cells/east/rebalance?dryRun=false", { token: ADMIN })).status).toBe(422);
  expect((await api.call("GET", "/v1/cells/east/rebalance?dryRun=true&x=1", { token: ADMIN })).status).toBe(
    422,
  );
  expect((await api.call("GET", "/v1/cells/east/rebalance?dryRun=true", { token: tenant })).status).toBe(403);
  expect((await api.call("GET", "/v1/cells/east/rebalance?dryRun=true", { token: null })).status).toBe(401);
  expect((await api.call("GET", "/v1/cells/nope/rebalance?dryRun=true", { token: ADMIN })).status).toBe(404);
  const batch = await api.call("GET", "/v1/cells/east/rebalance?dryRun=true&scheduler=batch", {
    token: ADMIN,
  });
  expect(batch.status).toBe(422);
  expect((await api.call("POST", "/v1/cells/east/rebalance?dryRun=true", { token: ADMIN })).status).toBe(405);
});
