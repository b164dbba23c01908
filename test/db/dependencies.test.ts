import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";
import { invariantViolations as checkInvariants } from "../support/invariants.ts";

let db: TestDatabase;
let m1: { id: number; version: number };
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeCell(db.pool, "west");
  await makeTenant(db.pool);
  await makeTenant(db.pool, "other");
  m1 = await makeMachine(db.pool, { name: "m1", cpu: 64000, memory: 65536 });
});
afterAll(() => db.drop());

async function job(
  id: number,
): Promise<{ state: string; reason: string | null; ready: boolean; waiting_on: number }> {
  const { rows } = await db.pool.query(
    "select state, reason, ready, waiting_on from omega.jobs where id = $1",
    [id],
  );
  return rows[0];
}

async function taskReasons(id: number): Promise<string[]> {
  const { rows } = await db.pool.query(
    "select distinct coalesce(reason, '') as reason from omega.tasks where job_id = $1 order by 1",
    [id],
  );
  return rows.map((r) => r.reason);
}

/** Places every pending task of the job on m1 and reports them all finished. */
async function run(id: number, state: "succeeded" | "failed"): Promise<void> {
  const tasks = await pendingTaskIds(db.pool, id);
  await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: m1.id, version: 0 })),
  );
  for (const t of tasks) {
    await db.pool.query("select omega.report_task('east', 'm1', $1, 'running')", [t]);
    await db.pool.query("select omega.report_task('east', 'm1', $1, $2)", [t, state]);
  }
}

async function leasable(): Promise<number[]> {
  const { rows } = await db.pool.query("select id from omega.lease_work('east', 'batch', 'test', 1000, 1)");
  await db.pool.query("update omega.jobs set lease_owner = null, lease_expires = null");
  return rows.map((r) => Number(r.id));
}

it("a diamond A → (B, C) → D: dependents wait, are not leased, and are released by the ends", async () => {
  const a = await submitJob(db.pool, { maxRetries: 0 });
  const b = await submitJob(db.pool, { dependsOn: [{ job: a }] });
  const c = await submitJob(db.pool, { dependsOn: [{ job: a, condition: "finished" }] });
  const d = await submitJob(db.pool, { dependsOn: [{ job: b }, { job: c }] });
  expect(await taskReasons(b)).toEqual([`dependency: waiting for job ${a} to succeed`]);
  expect(await taskReasons(c)).toEqual([`dependency: waiting for job ${a} to finish`]);
  expect((await job(d)).state).toBe("pending");
  const first = await leasable();
  expect(first).toContain(a);
  expect(first).not.toContain(b);
  expect(first).not.toContain(d);

  await run(a, "succeeded");
  expect((await job(b)).waiting_on).toBe(0);
  expect(await taskReasons(b)).toEqual([""]);
  const second = await leasable();
  expect(second).toEqual(expect.arrayContaining([b, c]));
  expect(second).not.toContain(d);

  await run(b, "succeeded");
  expect(await taskReasons(d)).toEqual([`dependency: waiting for job ${c} to succeed`]);
  await run(c, "succeeded");
  expect(await leasable()).toContain(d);
  const { rows } = await db.pool.query(
    "select kind, reason from omega.events where job_id = $1 and kind like 'dependency%' order by id",
    [d],
  );
  expect(rows.map((r) => r.kind)).toEqual(["dependency-met", "dependency-met"]);
  await run(d, "succeeded");
  expect(await checkInvariants(db.pool)).toEqual([]);
});

it("a failed predecessor fails its dependents with reason dependency, in cascade; `failed` runs", async () => {
  const a = await submitJob(db.pool, { maxRetries: 0 });
  const b = await submitJob(db.pool, { dependsOn: [{ job: a }] });
  const c = await submitJob(db.pool, { dependsOn: [{ job: b, condition: "finished" }] });
  const onFailure = await submitJob(db.pool, { dependsOn: [{ job: a, condition: "failed" }] });
  const any = await submitJob(db.pool, { dependsOn: [{ job: a, condition: "finished" }] });
  await run(a, "failed");
  expect(await job(b)).toMatchObject({ state: "failed", reason: "dependency" });
  expect(await taskReasons(b)).toEqual(["dependency"]);
  // c waited for b to finish: b failed, which is finishing.
  expect(await job(c)).toMatchObject({ state: "pending", waiting_on: 0 });
  expect(await job(onFailure)).toMatchObject({ state: "pending", waiting_on: 0 });
  expect(await job(any)).toMatchObject({ state: "pending", waiting_on: 0 });
  const e = await submitJob(db.pool, { dependsOn: [{ job: a }] });
  expect(await job(e)).toMatchObject({ state: "failed", reason: "dependency" });
  const f = await submitJob(db.pool, { dependsOn: [{ job: e }] });
  const g = await submitJob(db.pool, { dependsOn: [{ job: f }] });
  expect((await job(g)).state).toBe("failed");
  for (const id of [c, onFailure, any]) await db.pool.query("select omega.cancel_job($1)", [id]);
});

it("a cancelled predecessor fails `succeeded` and `failed` dependents and meets `finished`", async () => {
  const a = await submitJob(db.pool);
  const ok = await submitJob(db.pool, { dependsOn: [{ job: a }] });
  const notOk = await submitJob(db.pool, { dependsOn: [{ job: a, condition: "failed" }] });
  const any = await submitJob(db.pool, { dependsOn: [{ job: a, condition: "finished" }] });
  const okChild = await submitJob(db.pool, { dependsOn: [{ job: ok }] });
  await db.pool.query("select omega.cancel_job($1)", [a]);
  expect((await job(ok)).state).toBe("failed");
  expect((await job(notOk)).state).toBe("failed");
  expect((await job(okChild)).state).toBe("failed");
  expect((await job(any)).waiting_on).toBe(0);
  await db.pool.query("select omega.cancel_job($1)", [any]);
  expect(await checkInvariants(db.pool)).toEqual([]);
});

it("refuses another tenant's job as an unknown one, another cell's job, bad conditions, duplicates", async () => {
  const theirs = await submitJob(db.pool, {}, "other");
  const west = await submitJob(db.pool, { cell: "west" });
  const mine = await submitJob(db.pool);
  const refusal = (spec: Record<string, unknown>) =>
    submitJob(db.pool, spec).then(
      () => "accepted",
      (e) => e.message,
    );
  const before = await db.pool.query("select count(*)::int as n from omega.jobs");
  expect(await refusal({ dependsOn: [{ job: theirs }] })).toBe(
    `dependsOn[0].job: job ${theirs} does not exist`,
  );
  expect(await refusal({ dependsOn: [{ job: 99999999 }] })).toBe(
    "dependsOn[0].job: job 99999999 does not exist",
  );
  expect(await refusal({ dependsOn: [{ job: west }] })).toMatch(/is in cell west/);
  expect(await refusal({ dependsOn: [{ job: mine, condition: "done" }] })).toMatch(
    /dependsOn\[0\]\.condition/,
  );
  expect(await refusal({ dependsOn: [{ job: mine }, { job: mine }] })).toMatch(/named twice/);
  expect(await refusal({ dependsOn: [{ job: mine, extra: 1 }] })).toMatch(/dependsOn\[0\]\.job/);
  expect(await refusal({ dependsOn: {} })).toMatch(/dependsOn/);
  expect(await refusal({ dependsOn: [{ job: mine }], prePlace: "yes" })).toMatch(/prePlace/);
  const after = await db.pool.query("select count(*)::int as n from omega.jobs");
  expect(after.rows[0].n).toBe(before.rows[0].n);
});

it("prePlace: the successor's tasks are placed as reservations, and become placements when the predecessor ends", async () => {
  const a = await submitJob(db.pool, { maxRetries: 0 });
  const b = await submitJob(db.pool, { tasks: 2, prePlace: true, dependsOn: [{ job: a }] });
  expect(await leasable()).toEqual(expect.arrayContaining([a, b]));
  const tasks = await pendingTaskIds(db.pool, b);
  await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: m1.id, version: 0 })),
  );
  expect(await job(b)).toMatchObject({ state: "pending", ready: false, waiting_on: 1 });
  expect(await leasable()).not.toContain(b);
  const claims = await db.pool.query("select count(*)::int as n from omega.claims where job_id = $1", [b]);
  expect(claims.rows[0].n).toBe(2);
  const seen = await db.pool.query("select t.held, t.state from omega.tasks t where t.job_id = $1", [b]);
  expect(seen.rows).toEqual([
    { held: true, state: "placed" },
    { held: true, state: "placed" },
  ]);
  expect(await checkInvariants(db.pool)).toEqual([]);
  await run(a, "succeeded");
  expect(await job(b)).toMatchObject({ state: "placed", waiting_on: 0 });
  const after = await db.pool.query("select held, state from omega.tasks where job_id = $1", [b]);
  expect(after.rows).toEqual([
    { held: false, state: "placed" },
    { held: false, state: "placed" },
  ]);
  const kinds = await db.pool.query("select kind from omega.events where job_id = $1 order by id", [b]);
  expect(kinds.rows.map((r) => r.kind)).toEqual([
    "submitted",
    "reserved",
    "reserved",
    "dependency-met",
    "placed",
  ]);
  expect(await checkInvariants(db.pool)).toEqual([]);
});

it("a reservation is preemptible like its job: evicted by higher priority, its task waits again, still held", async () => {
  const small = await makeMachine(db.pool, {
    name: "small",
    cpu: 1000,
    memory: 1024,
    labels: { size: "small" },
  });
  const a = await submitJob(db.pool, { maxRetries: 0 });
  const low = await submitJob(db.pool, {
    priority: 50,
    prePlace: true,
    dependsOn: [{ job: a }],
    constraints: { selector: { size: "small" } },
  });
  const [reserved] = await pendingTaskIds(db.pool, low);
  await commitPlan(db.pool, [{ taskId: reserved as number, machineId: small.id, version: 0 }]);
  const high = await submitJob(db.pool, { priority: 150, constraints: { selector: { size: "small" } } });
  const [task] = await pendingTaskIds(db.pool, high);
  const outcome = await commitPlan(db.pool, [
    { taskId: task as number, machineId: small.id, version: 0, victims: [reserved as number] },
  ]);
  expect(outcome[0]?.reason ?? null).toBeNull();
  const back = await db.pool.query("select state, held from omega.tasks where id = $1", [reserved]);
  expect(back.rows[0]).toEqual({ state: "pending", held: true });
  expect(await job(low)).toMatchObject({ state: "pending", ready: true, waiting_on: 1 });
  expect(await checkInvariants(db.pool)).toEqual([]);
  for (const id of [a, low, high]) await db.pool.query("select omega.cancel_job($1)", [id]);
});
