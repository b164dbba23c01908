/**
 * Periodic jobs with real worker processes: four of them race to launch a schedule that fires every
 * second, and each scheduled time is launched once; then an outage of every worker is made up only
 * within startingDeadlineSeconds.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let api: Api;
let token: string;
let workers: OmegaProcess[] = [];
const worker = () => omega(["worker", "--scheduler", "batch"], { DATABASE_URL: api.db.url });
/** Four processes loading at once on a loaded machine take a while: wait until each one runs. */
const started = (all: OmegaProcess[]) =>
  waitFor(
    async () => (all.every((w) => w.output().includes("scheduler worker started")) ? true : undefined),
    90_000,
    "the workers to start",
  );
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  await makeMachine(api.db.pool, { name: "m1", cpu: "64", memory: "256Gi" });
  token = (await makeTenant(api.db.pool)).token;
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const job = { cell: "east", tasks: 1, resources: { cpu: "10m", memory: "16Mi" } };

/** The launched scheduled times of a periodic job, each with how many jobs were made for it. */
async function launches(id: number): Promise<{ scheduled_at: Date; jobs: number }[]> {
  const { rows } = await api.db.pool.query(
    `select l.scheduled_at, (select count(*)::int from omega.jobs j where j.periodic_id = l.periodic_id
                             and j.id = l.job_id) as jobs
     from omega.periodic_launches l where l.periodic_id = $1 and l.outcome = 'launched' order by 1`,
    [id],
  );
  return rows;
}

it("four worker processes, a schedule every second for 20 s: each scheduled time launches one job", async () => {
  workers = [worker(), worker(), worker(), worker()];
  await started(workers);
  const created = await api.call("POST", "/v1/periodic", {
    token,
    body: { name: "tick", schedule: "* * * * * *", timeZone: "UTC", startingDeadlineSeconds: 30, job },
  });
  expect(created.status).toBe(201);
  const id = created.body.id;
  await sleep(20_000);
  await api.call("POST", `/v1/periodic/${id}/pause`, { token });
  const runs = await launches(id);
  // Every second of the 20 (the loaded machine may start the workers late: at least most of them).
  expect(runs.length).toBeGreaterThanOrEqual(12);
  expect(runs.length).toBeLessThanOrEqual(22);
  expect(runs.every((r) => r.jobs === 1)).toBe(true);
  const { rows } = await api.db.pool.query(
    "select count(*)::int as n from omega.jobs where periodic_id = $1",
    [id],
  );
  expect(rows[0].n).toBe(runs.length);
  const seconds = runs.map((r) => r.scheduled_at.getTime() / 1000);
  expect(seconds.every((s, i) => i === 0 || s === (seconds[i - 1] as number) + 1)).toBe(true);
  const shown = await api.call("GET", `/v1/periodic/${id}`, { token });
  expect(shown.body).toMatchObject({ suspended: true, launches: runs.length });
  expect(new Date(shown.body.lastRunAt).getTime()).toBe(runs.at(-1)?.scheduled_at.getTime());
}, 180_000);

it("after a 30 s outage of every worker, makes up only what startingDeadlineSeconds allows", async () => {
  const created = await api.call("POST", "/v1/periodic", {
    token,
    body: { name: "outage", schedule: "* * * * * *", startingDeadlineSeconds: 3, job },
  });
  const id = created.body.id;
  await sleep(3_000);
  await Promise.all(workers.map((w) => w.stop()));
  const { rows: down } = await api.db.pool.query("select now() as at");
  await sleep(30_000);
  workers = [worker()];
  await started(workers);
  // The outage lasted until a worker ran again (loading one takes a while on a loaded machine).
  const { rows: up } = await api.db.pool.query("select now() as at");
  await sleep(5_000);
  await api.call("POST", `/v1/periodic/${id}/pause`, { token });
  const { rows } = await api.db.pool.query(
    `select count(*)::int as n from omega.periodic_launches
     where periodic_id = $1 and outcome = 'launched' and scheduled_at between $2 and $3`,
    [id, down[0].at, up[0].at],
  );
  // The outage's scheduled times older than 3 s when a worker came back are not made up.
  expect(rows[0].n).toBeGreaterThanOrEqual(1);
  expect(rows[0].n).toBeLessThanOrEqual(5);
  const all = await api.db.pool.query("select count(*)::int as n from omega.jobs where periodic_id = $1", [
    id,
  ]);
  expect(all.rows[0].n).toBeLessThan(3 + 30 + 8);
}, 180_000);
