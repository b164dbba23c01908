import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitPlan, leaseWork } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, submitJob } from "../support/factories.ts";

/**
 * The checks on a job's and a machine's spec (0230): a trigger on writes of the spec columns, with
 * the error of the CHECK constraint each replaced; and nothing at all for the hot path's writes.
 */

let db: TestDatabase;
let jobId: number;
let machineId: number;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  await db.pool.query("select omega.register_scheduler('batch', '{}')");
  machineId = (await makeMachine(db.pool)).id;
  jobId = await submitJob(db.pool, { tasks: 2, gang: { minAvailable: 1 }, name: "spec" });
});
afterAll(() => db.drop());

const jobCases: [string, string][] = [
  ["affinity = '{}'", "jobs_affinity_check"],
  ["gang_min = 0", "jobs_check"],
  ["gang_min = 3", "jobs_check"],
  ["client_token = ''", "jobs_client_token_check"],
  ["labels = '[]'", "jobs_labels_check"],
  ["locality = '1'", "jobs_locality_check"],
  ["max_per_machine = 0", "jobs_max_per_machine_check"],
  ["max_retries = 101", "jobs_max_retries_check"],
  ["max_unavailable = -1", "jobs_max_unavailable_check"],
  ["name = repeat('n', 254)", "jobs_name_check"],
  ["priority = 1000", "jobs_priority_check"],
  ["runtime_max_ms = -1", "jobs_runtime_max_ms_check"],
  ["runtime_min_ms = -1", "jobs_runtime_min_ms_check"],
  ["runtime_min_ms = 10, runtime_max_ms = 5", "jobs_runtime_range"],
  ["selector = '[]'", "jobs_selector_check"],
  ["spread_by = ''", "jobs_spread_by_check"],
  ["gang_min = null, task_count = 0", "jobs_task_count_check"],
  ["tolerations = '{}'", "jobs_tolerations_check"],
  ["vocabulary = '[]'", "jobs_vocabulary_check"],
];

const machineCases: [string, string][] = [
  ["labels = '[]'", "machines_labels_check"],
  ["max_tasks = 0", "machines_max_tasks_check"],
  ["name = '-bad'", "machines_name_check"],
  ["no_execute_since = '[]'", "machines_no_execute_since_check"],
  ["state = 'gone'", "machines_state_check"],
  // (Taints that are not an array are refused before, by the rules trigger that reads them.)
];

async function snapshotOf(table: string, id: number): Promise<unknown> {
  const { rows } = await db.pool.query(`select to_jsonb(t) as row from omega.${table} t where id = $1`, [id]);
  return rows[0]?.row;
}

describe("spec checks (0230)", () => {
  it.each(jobCases)("a job updated with %s is refused as %s, and unchanged", async (set, constraint) => {
    const before = await snapshotOf("jobs", jobId);
    await expect(db.pool.query(`update omega.jobs set ${set} where id = $1`, [jobId])).rejects.toMatchObject({
      code: "23514",
      constraint,
      message: `new row for relation "jobs" violates check constraint "${constraint}"`,
    });
    expect(await snapshotOf("jobs", jobId)).toEqual(before);
  });

  it.each(machineCases)(
    "a machine updated with %s is refused as %s, and unchanged",
    async (set, constraint) => {
      const before = await snapshotOf("machines", machineId);
      await expect(
        db.pool.query(`update omega.machines set ${set} where id = $1`, [machineId]),
      ).rejects.toMatchObject({ code: "23514", constraint });
      expect(await snapshotOf("machines", machineId)).toEqual(before);
    },
  );

  it("checks an inserted row too", async () => {
    await expect(
      db.pool.query(
        `insert into omega.jobs (cell, tenant_id, name, priority, scheduler, task_count, pending_count)
         select 'east', id, 'x', 5000, 'batch', 1, 1 from omega.tenants limit 1`,
      ),
    ).rejects.toMatchObject({ code: "23514", constraint: "jobs_priority_check" });
  });

  it("accepts a valid change of the spec", async () => {
    await db.pool.query('update omega.jobs set priority = 150, labels = \'{"a": "b"}\' where id = $1', [
      jobId,
    ]);
    await db.pool.query("update omega.machines set max_tasks = 50 where id = $1", [machineId]);
  });

  it("costs the hot path nothing: a lease and a commit never run the spec triggers", async () => {
    const client = await db.pool.connect();
    try {
      await client.query("set track_functions = 'all'");
      const id = await submitJob(db.pool, { tasks: 1, resources: { cpu: 10, memory: 16 } });
      const calls = async () => {
        await client.query("select pg_stat_clear_snapshot()");
        const { rows } = await client.query(
          `select coalesce(sum(calls) filter (where funcname in ('check_job_spec', 'check_machine_spec')), 0)::int as n
           from pg_stat_xact_user_functions`,
        );
        return rows[0].n as number;
      };
      await client.query("begin");
      const { views } = await leaseWork(client, {
        cell: "east",
        scheduler: "batch",
        owner: "w",
        limit: 10,
        leaseSeconds: 5,
      });
      const view = views.find((v) => v.id === id);
      expect(view).toBeDefined();
      const outcomes = await commitPlan(client, {
        cell: "east",
        scheduler: "batch",
        worker: "w",
        placements: (view?.pendingTaskIds ?? []).map((taskId) => ({ taskId, machineId, machineVersion: 0 })),
        transactionMode: "incremental",
        conflictMode: "fine",
      });
      expect(outcomes.map((o) => o.outcome)).toEqual(["committed"]);
      expect(await calls()).toBe(0);
      await client.query("commit");
    } finally {
      client.release();
    }
  });
});
