import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { jobSubmitBatch, type Submission } from "../../src/db/queries/job-submit-batch.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, setTenantLimits } from "../support/factories.ts";

// omega.submit_jobs checks a batch in one subtransaction and, at a refusal, redoes the jobs before
// it (0340), then writes the jobs it admitted together (0343; job by job when the batch has
// dependencies or repeats an idempotency key, or when the writes fail). Its answers must be those
// of running each job in a subtransaction of its own (the code before 0340, kept here as the
// reference): job by job the same acceptance, refusal and message, the same idempotent repeats,
// and nothing of a refused or undone job left behind.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeMachine(db.pool);
  // A refusal no check before the writes foresees: what a write failing after the checks looks like.
  await db.pool.query(`
    create function public.refuse_boom() returns trigger language plpgsql as $$
    begin
      raise exception using errcode = 'check_violation', message = format('no booms here (%s)', new.name);
    end $$;
    create trigger jobs_no_boom before insert on omega.jobs for each row
      when (new.name like 'boom%') execute function public.refuse_boom()`);
  await db.pool.query(`
    create function public.submit_jobs_one_by_one(p_tenants text[], p_specs jsonb[], p_client_tokens text[])
    returns table (ord integer, id bigint, created boolean, error_code text, error_message text, job jsonb)
    language plpgsql as $$
    #variable_conflict use_column
    declare
      i integer;
      v_id bigint;
      v_job jsonb;
      v_code text;
      v_message text;
    begin
      for i in 1 .. cardinality(p_specs) loop
        begin
          v_id := omega.submit_one_job(p_tenants[i], p_specs[i], p_client_tokens[i]);
          select case when j.created_at = now() then to_jsonb(j) end into v_job from omega.jobs j where j.id = v_id;
          return query select i, v_id, v_job is not null, null::text, null::text, v_job;
        exception when others then
          get stacked diagnostics v_code = returned_sqlstate, v_message = message_text;
          return query select i, null::bigint, false, v_code, v_message, null::jsonb;
        end;
      end loop;
    end $$`);
});
afterAll(() => db.drop());

interface Planned {
  tenant: 0 | 1;
  tasks: number;
  fault: "none" | "cell" | "scheduler" | "labels" | "depends" | "write";
  token: string | null;
  retries: boolean;
}

const planned: fc.Arbitrary<Planned> = fc.record({
  tenant: fc.constantFrom(0 as const, 1 as const),
  tasks: fc.integer({ min: 1, max: 4 }),
  fault: fc.constantFrom(
    "none" as const,
    "none" as const,
    "none" as const,
    "cell" as const,
    "scheduler" as const,
    // Refused by the last checks, after the backlog counted the job.
    "labels" as const,
    // Checked against the rows as they are written: the batch goes job by job.
    "depends" as const,
    // Refused by the jobs' own trigger only (below): the writes fail and the batch goes again.
    "write" as const,
  ),
  token: fc.constantFrom(null, null, "k1", "k2"),
  retries: fc.boolean(),
});

let run = 0;
/** Two fresh tenants of 8 pending tasks at most, so that refusals depend on the jobs before. */
async function freshTenants(side: string): Promise<[string, string]> {
  const names: [string, string] = [`a${run}${side}`, `b${run}${side}`];
  for (const name of names) {
    await makeTenant(db.pool, name);
    await setTenantLimits(db.pool, { maxPendingTasks: 8 }, name);
  }
  return names;
}

function submissions(jobs: readonly Planned[], tenants: [string, string]): Submission[] {
  return jobs.map((j, i) => ({
    tenant: tenants[j.tenant],
    spec: {
      name: `j${i}`,
      cell: j.fault === "cell" ? "nowhere" : "east",
      tasks: j.tasks,
      resources: { cpu: 100, memory: 128 },
      ...(j.fault === "scheduler" ? { scheduler: "nosuch" } : {}),
      ...(j.fault === "labels" ? { labels: { "not a key!": "x" } } : {}),
      ...(j.fault === "depends" ? { dependsOn: [2_000_000_000] } : {}),
      ...(j.fault === "write" ? { name: `boom${i}` } : {}),
      ...(j.retries ? { maxRetries: 7 } : {}),
    } as never,
    ...(j.token ? { clientToken: j.token } : {}),
  }));
}

interface Answer {
  id: number | null;
  created: boolean;
  error_code: string | null;
  error_message: string | null;
  name: string | null;
}

async function answers(fn: string, batch: Submission[]): Promise<Answer[]> {
  const { rows } = await db.pool.query<Answer>(
    `select s.id, s.created, s.error_code, s.error_message, s.job ->> 'name' as name
     from ${fn}($1::text[], $2::jsonb[], $3::text[]) s order by s.ord`,
    [
      batch.map((s) => s.tenant),
      batch.map((s) => JSON.stringify(s.spec)),
      batch.map((s) => s.clientToken ?? null),
    ],
  );
  return rows;
}

/**
 * Each answer with its job, and any job its message names, given as the first submission that
 * answered with that job (ids differ by side), and tenants' names left out of messages.
 */
function shaped(rows: Answer[]) {
  const firstOrd = new Map<number, number>();
  for (const [ord, r] of rows.entries()) if (r.id !== null && !firstOrd.has(r.id)) firstOrd.set(r.id, ord);
  return rows.map((r) => ({
    ...r,
    id: r.id === null ? null : firstOrd.get(r.id),
    error_message:
      r.error_message
        ?.replaceAll(/job (\d+)/g, (_, id) => `job #${firstOrd.get(Number(id)) ?? "?"}`)
        .replaceAll(/[ab]\d+[xy]/g, "T") ?? null,
  }));
}

/** What the tenants' jobs left in the database: jobs, their pending tasks and its count, events in order. */
async function leftBehind(tenants: [string, string]) {
  const { rows } = await db.pool.query(
    `select t.name = $1 as first_tenant,
       (select coalesce(array_agg(j.name || ' ' || j.max_retries order by j.name), '{}') from omega.jobs j where j.tenant_id = t.id) as jobs,
       (select count(*)::int from omega.tasks k join omega.jobs j on j.cell = k.cell and j.id = k.job_id
        where j.tenant_id = t.id) as tasks,
       (select coalesce(sum(j.pending_count), 0)::int from omega.jobs j where j.tenant_id = t.id and j.state = 'pending') as pending,
       omega.tenant_pending_tasks(t.id)::int as counted,
       (select count(*)::int from omega.events e join omega.jobs j on j.cell = e.cell and j.id = e.job_id
        where j.tenant_id = t.id and e.kind = 'submitted') as submitted_events,
       (select coalesce(array_agg(j.name || ' ' || e.kind order by e.id), '{}') from omega.events e
        join omega.jobs j on j.cell = e.cell and j.id = e.job_id where j.tenant_id = t.id) as events
     from omega.tenants t where t.name = any ($2) order by t.name`,
    [tenants[0], tenants],
  );
  return rows;
}

it("answers a batch job by job as subtransactions of their own did, and leaves the same rows", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(planned, { minLength: 2, maxLength: 12 }), async (jobs) => {
      run++;
      const batchTenants = await freshTenants("x");
      const aloneTenants = await freshTenants("y");
      const batch = await answers("omega.submit_jobs", submissions(jobs, batchTenants));
      const alone = await answers("public.submit_jobs_one_by_one", submissions(jobs, aloneTenants));
      expect(shaped(batch)).toEqual(shaped(alone));
      const left = await leftBehind(batchTenants);
      expect(left).toEqual(await leftBehind(aloneTenants));
      for (const tenant of left) {
        expect(tenant.counted).toBe(tenant.pending);
        expect(tenant.submitted_events).toBe(tenant.jobs.length);
      }
    }),
    { numRuns: 40 },
  );
});

it("writes a batch with no refusal in one subtransaction", async () => {
  run++;
  const tenants = await freshTenants("z");
  const jobs: Planned[] = Array.from({ length: 6 }, () => ({
    tenant: 0,
    tasks: 1,
    fault: "none",
    token: null,
    retries: false,
  }));
  const results = await jobSubmitBatch(db.pool, submissions(jobs, tenants));
  const ids = results.map((r) => (r.ok ? r.id : null));
  expect(ids).not.toContain(null);
  // A row's xmin is the (sub)transaction that wrote it: one for the whole batch.
  const { rows } = await db.pool.query(
    "select count(distinct xmin::text)::int as writers from omega.jobs where id = any ($1)",
    [ids],
  );
  expect(rows[0].writers).toBe(1);
});

it("writes the jobs a batch admits in one call of omega.write_jobs, a batch with dependencies job by job", async () => {
  run++;
  const tenants = await freshTenants("w");
  const job = (fault: Planned["fault"]): Planned => ({
    tenant: 0,
    tasks: 2,
    fault,
    token: null,
    retries: false,
  });
  const writes = async (jobs: Planned[]) => {
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await client.query("set local track_functions = 'pl'");
      await jobSubmitBatch(client, submissions(jobs, tenants));
      const { rows } = await client.query(
        "select coalesce(sum(calls), 0)::int as calls from pg_stat_xact_user_functions where schemaname = 'omega' and funcname = 'write_jobs'",
      );
      await client.query("commit");
      return rows[0].calls;
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  };
  expect(await writes([job("none"), job("cell"), job("none"), job("none")])).toBe(1);
  // Two jobs written one by one (and the first again after the refusal undid it).
  expect(await writes([job("none"), job("depends"), job("none")])).toBeGreaterThanOrEqual(2);
});
