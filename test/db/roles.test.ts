import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Pool } from "../../src/db/pool.ts";
import * as scheduling from "../../src/db/scheduling.ts";
import { CellSnapshot } from "../../src/db/snapshot.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  rowCounts,
  submitJob,
} from "../support/factories.ts";
import { createLoginRole, type LoginRole } from "../support/roles.ts";

let db: TestDatabase;
let scheduler: LoginRole;
let api: LoginRole;
let reader: LoginRole;
beforeAll(async () => {
  db = await createTestDatabase();
  [scheduler, api, reader] = await Promise.all([
    createLoginRole(db.url, "omega_scheduler"),
    createLoginRole(db.url, "omega_api"),
    createLoginRole(db.url, "omega_reader"),
  ]);
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(async () => {
  await Promise.all([scheduler, api, reader].map((r) => r?.drop()));
  await db.drop();
});

/** Rejects with SQLSTATE 42501 (insufficient_privilege): permission denied. */
async function expectDenied(query: Promise<unknown>, what: string): Promise<void> {
  const error = await query.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${what} should be refused`).toMatchObject({ code: "42501" });
}

/** Every table of the schema, read from the catalog: a table added later is covered too. */
async function stateTables(): Promise<{ table: string; column: string }[]> {
  const { rows } = await db.pool.query<{ table: string; column: string }>(
    `select c.oid::regclass::text as table,
       (select attname from pg_attribute where attrelid = c.oid and attnum > 0 and attidentity = ''
        order by attnum limit 1) as column
     from pg_class c where c.relnamespace = 'omega'::regnamespace and c.relkind = 'r' order by 1`,
  );
  return rows;
}

/** INSERT, UPDATE, DELETE and TRUNCATE on every table, except what `allowed` names ("omega.quotas insert"). */
async function expectNoWrites(pool: Pool, allowed: string[] = []): Promise<void> {
  const tables = await stateTables();
  expect(tables.length).toBeGreaterThanOrEqual(10);
  for (const { table, column } of tables) {
    const statements = {
      insert: `insert into ${table} default values`,
      // `where false`: were it allowed, it would succeed and change nothing.
      update: `update ${table} set ${column} = ${column} where false`,
      delete: `delete from ${table} where false`,
      truncate: `truncate ${table} cascade`,
    };
    for (const [verb, sql] of Object.entries(statements)) {
      if (!allowed.includes(`${table} ${verb}`)) await expectDenied(pool.query(sql), `${verb} on ${table}`);
    }
  }
}

describe("roles", () => {
  it("the migrations create the three group roles, none of which can log in", async () => {
    const { rows } = await db.pool.query(
      `select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls from pg_roles
       where rolname in ('omega_api', 'omega_scheduler', 'omega_reader') order by rolname`,
    );
    expect(rows).toEqual(
      ["omega_api", "omega_reader", "omega_scheduler"].map((rolname) => ({
        rolname,
        rolcanlogin: false,
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
        rolbypassrls: false,
      })),
    );
  });

  it("every SECURITY DEFINER function pins search_path and is not executable by PUBLIC", async () => {
    const { rows } = await db.pool.query(
      `select p.oid::regprocedure::text as fn, p.proconfig,
         has_function_privilege('public', p.oid, 'execute') as public_execute
       from pg_proc p where p.pronamespace = 'omega'::regnamespace and p.prosecdef order by 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(13);
    for (const r of rows) {
      expect(r, r.fn).toMatchObject({
        proconfig: expect.arrayContaining(["search_path=pg_catalog, pg_temp"]),
        public_execute: false,
      });
    }
  });

  it("the procedures each role calls are SECURITY DEFINER and executable by that role only", async () => {
    const entryPoints: Record<string, string[]> = {
      omega_scheduler: [
        "commit_plan",
        "lease_jobs",
        "release_leases",
        "park_job",
        "park_jobs",
        "refresh_statistics",
        "fold_pending_counts",
        "wake",
        "wake_stale",
        "register_scheduler",
        "renew_leases",
        "watch_machines",
        "mark_machine_lost",
        "return_lost_tasks",
        "flow_inputs",
        "victims_on",
      ],
      omega_api: [
        "submit_job",
        "cancel_job",
        "put_quota",
        "create_cell",
        "put_machine",
        "set_machine_state",
        "remove_machine",
        "heartbeat",
        "report_task",
      ],
    };
    // Both roles warm their connections at start (0290).
    const fixture = await db.pool.query(
      `select p.prosecdef, has_function_privilege('omega_scheduler', p.oid, 'execute') as omega_scheduler,
         has_function_privilege('omega_api', p.oid, 'execute') as omega_api,
         has_function_privilege('omega_reader', p.oid, 'execute') as omega_reader
       from pg_proc p where p.oid = 'omega.warm_up_fixture'::regproc`,
    );
    expect(fixture.rows).toEqual([
      { prosecdef: true, omega_scheduler: true, omega_api: true, omega_reader: false },
    ]);
    const { rows } = await db.pool.query(
      `select p.proname, p.prosecdef,
         has_function_privilege('omega_scheduler', p.oid, 'execute') as omega_scheduler,
         has_function_privilege('omega_api', p.oid, 'execute') as omega_api,
         has_function_privilege('omega_reader', p.oid, 'execute') as omega_reader
       from pg_proc p where p.pronamespace = 'omega'::regnamespace and p.proname = any($1)`,
      [Object.values(entryPoints).flat()],
    );
    // Every entry point exists (submit_job twice: with and without an idempotency token).
    expect(new Set(rows.map((r) => r.proname)).size).toBe(Object.values(entryPoints).flat().length);
    for (const r of rows) {
      const owner = entryPoints.omega_scheduler?.includes(r.proname) ? "omega_scheduler" : "omega_api";
      expect(r, r.proname).toEqual({
        proname: r.proname,
        prosecdef: true,
        omega_scheduler: owner === "omega_scheduler",
        omega_api: owner === "omega_api",
        omega_reader: false,
      });
    }
  });
});

describe("the scheduler role", () => {
  it("cannot INSERT, UPDATE, DELETE or TRUNCATE any omega table", async () => {
    await expectNoWrites(scheduler.pool);
  });

  it("cannot call the API's procedures nor the internal writers, nor read token hashes", async () => {
    const before = await rowCounts(db.pool);
    await expectDenied(
      scheduler.pool.query("select omega.submit_job('acme', $1)", [
        { cell: "east", tasks: 1, resources: { cpu: 1 } },
      ]),
      "submit_job",
    );
    await expectDenied(
      scheduler.pool.query("select omega.put_machine('east', 'evil', '{\"cpu\": 1}')"),
      "put_machine",
    );
    await expectDenied(scheduler.pool.query("select omega.cancel_job(1)"), "cancel_job");
    // Invoker functions run with the caller's rights: the writes inside them are refused.
    await expectDenied(scheduler.pool.query("select omega.capacity_freed('east')"), "capacity_freed");
    await expectDenied(scheduler.pool.query("select omega.release_claims('east', '{1}')"), "release_claims");
    await expectDenied(
      scheduler.pool.query("call omega.grant_entry_point('submit_job', '{omega_scheduler}')"),
      "grant",
    );
    await expectDenied(scheduler.pool.query("select token_hash from omega.tenants"), "token hashes");
    // The warm-up fixture (0290) makes a cell, a tenant and a job, but never in a transaction that commits.
    await expect(scheduler.pool.query("select * from omega.warm_up_fixture('batch')")).rejects.toMatchObject({
      code: "OM409",
    });
    expect(await rowCounts(db.pool)).toEqual(before);
  });

  it("runs the whole scheduling cycle through the procedures: register, sync, lease, commit, park, release", async () => {
    const m = await makeMachine(db.pool, { name: "s1", cpu: 4000, memory: 8192 });
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000, memory: 1024 } });
    await scheduling.registerScheduler(scheduler.pool, "batch", { name: "batch", sampleSize: 3 });
    const profile = await db.pool.query("select profile from omega.schedulers where name = 'batch'");
    expect(profile.rows[0].profile).toEqual({ name: "batch", sampleSize: 3 });

    const snapshot = new CellSnapshot(scheduler.pool, "east");
    await snapshot.sync();
    expect(snapshot.machines.get(m.id)?.name).toBe("s1");
    const leased = await scheduling.leaseJobs(scheduler.pool, {
      cell: "east",
      scheduler: "batch",
      owner: "w1",
      limit: 10,
      leaseSeconds: 15,
    });
    expect(leased.map((j) => j.id)).toEqual([job]);
    const [view] = await scheduling.loadJobViews(scheduler.pool, "east", leased);
    const [t1, t2] = view?.pendingTaskIds ?? [];

    const out = await commitPlan(scheduler.pool, [
      { taskId: t1 as number, machineId: m.id, version: m.version },
    ]);
    expect(out).toEqual([{ task_id: t1, machine_id: m.id, outcome: "committed", reason: null }]);
    expect(
      await scheduling.parkJob(scheduler.pool, {
        cell: "east",
        jobId: job,
        owner: "w1",
        seenEpoch: snapshot.capacityEpoch,
        reason: "test",
      }),
    ).toBe(true);
    await scheduling.releaseLeases(scheduler.pool, "east", [job], "w1");
    await scheduling.wake(scheduler.pool, "east", "batch");
    await scheduling.wakeStale(scheduler.pool);

    const { rows } = await db.pool.query(
      "select t.id, t.state, t.reason, c.machine_id from omega.tasks t left join omega.claims c on c.task_id = t.id where t.job_id = $1 order by t.id",
      [job],
    );
    expect(rows).toEqual([
      { id: t1, state: "placed", reason: null, machine_id: m.id },
      { id: t2, state: "pending", reason: "test", machine_id: null },
    ]);
    await db.pool.query("select omega.cancel_job($1)", [job]);
  });

  it("cannot commit a crafted plan that exceeds a machine's capacity: the procedure refuses it", async () => {
    const m = await makeMachine(db.pool, { name: "s2", cpu: 4000, memory: 8192 });
    const job = await submitJob(db.pool, { tasks: 3, resources: { cpu: 2000, memory: 1024 } });
    const tasks = await pendingTaskIds(db.pool, job);
    const plan = tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version }));

    const atomic = await commitPlan(scheduler.pool, plan, { transactionMode: "all-or-nothing" });
    expect(atomic.map((o) => o.outcome)).toEqual(["rejected", "rejected", "rejected"]);
    expect(atomic.map((o) => o.reason)).toContain("insufficient_resources");
    const none = await db.pool.query("select count(*)::int as n from omega.claims where job_id = $1", [job]);
    expect(none.rows[0].n).toBe(0);

    const partial = await commitPlan(scheduler.pool, plan);
    expect(partial.map((o) => o.reason)).toEqual([null, null, "insufficient_resources"]);
    const { rows } = await db.pool.query("select used_cpu, cpu from omega.machines where id = $1", [m.id]);
    expect(rows[0]).toEqual({ used_cpu: 4000, cpu: 4000 });
    await db.pool.query("select omega.cancel_job($1)", [job]);
  });

  it("cannot commit a crafted plan that exceeds a quota or evicts higher priority: the procedure refuses it", async () => {
    const m = await makeMachine(db.pool, { name: "s3", cpu: 8000, memory: 8192 });
    await db.pool.query("select omega.put_quota('acme', 'east', 'batch', '{\"cpu\": 2000}')");
    const job = await submitJob(db.pool, { tasks: 3, priority: 150, resources: { cpu: 1000, memory: 1 } });
    const tasks = await pendingTaskIds(db.pool, job);
    const overQuota = await commitPlan(
      scheduler.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    expect(overQuota.map((o) => o.reason)).toEqual([null, null, "quota_exceeded"]);
    const usage = await db.pool.query(
      "select used_cpu, limit_cpu from omega.quota_usage where tenant = 'acme' and cell = 'east' and band = 'batch'",
    );
    expect(usage.rows[0]).toEqual({ used_cpu: 2000, limit_cpu: 2000 });

    // A lower-priority task proposing to evict the batch claims it may not touch.
    const low = await submitJob(db.pool, { tasks: 1, priority: 50, resources: { cpu: 7000, memory: 1 } });
    const [lowTask] = await pendingTaskIds(db.pool, low);
    const placed = tasks.slice(0, 2);
    const hostile = await commitPlan(scheduler.pool, [
      { taskId: lowTask as number, machineId: m.id, version: m.version, victims: placed },
    ]);
    expect(hostile.map((o) => [o.outcome, o.reason])).toEqual([["rejected", "victim_not_preemptible"]]);
    const kept = await db.pool.query("select count(*)::int as n from omega.claims where job_id = $1", [job]);
    expect(kept.rows[0].n).toBe(2);
    await db.pool.query("select omega.cancel_job($1)", [job]);
    await db.pool.query("select omega.cancel_job($1)", [low]);
    await db.pool.query("delete from omega.quotas");
  });
});

describe("the API role", () => {
  it("writes only tenant and agent token hashes itself (quotas go through omega.put_quota)", async () => {
    await expectNoWrites(api.pool, [
      "omega.tenants insert",
      "omega.tenants update",
      "omega.agent_tokens insert",
      "omega.agent_tokens update",
    ]);
    // What it may write, it may write only in those columns.
    await expectDenied(
      api.pool.query("update omega.tenants set name = name where false"),
      "renaming a tenant",
    );
    await expectDenied(
      api.pool.query("update omega.quotas set tenant_id = tenant_id where false"),
      "moving a quota",
    );
    await expectDenied(api.pool.query("delete from omega.tenants where false"), "deleting a tenant");
  });

  it("cannot call the scheduler's procedures", async () => {
    await expectDenied(
      api.pool.query("select * from omega.commit_plan('east', 'batch', '{}', '{}', '{}')"),
      "commit_plan",
    );
    await expectDenied(
      api.pool.query("select * from omega.lease_jobs('east', 'batch', 'x', 1, 1)"),
      "lease_jobs",
    );
    await expectDenied(api.pool.query("select omega.register_scheduler('evil', '{}')"), "register_scheduler");
  });
});

describe("the reader role", () => {
  it("reads every view and table, but no token hash, and writes nothing", async () => {
    const { rows } = await db.pool.query<{ relation: string }>(
      `select c.oid::regclass::text as relation from pg_class c
       where c.relnamespace = 'omega'::regnamespace and c.relkind in ('r', 'v')
         and c.relname not in ('tenants', 'agent_tokens')`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(14);
    for (const { relation } of rows) await reader.pool.query(`select * from ${relation} limit 1`);
    await reader.pool.query("select id, name, created_at from omega.tenants");
    await expectDenied(reader.pool.query("select * from omega.tenants"), "token hashes");
    await reader.pool.query("select cell, created_at from omega.agent_tokens");
    await expectDenied(reader.pool.query("select * from omega.agent_tokens"), "agent token hashes");
    const fit = await reader.pool.query("select * from omega.how_many_fit('east', '{\"cpu\": 1}')");
    expect(fit.rows.length).toBeGreaterThan(0);
    await expectNoWrites(reader.pool);
    await expectDenied(
      reader.pool.query("select omega.submit_job('acme', $1)", [
        { cell: "east", tasks: 1, resources: { cpu: 1 } },
      ]),
      "submit_job",
    );
  });
});
