import { writeFile } from "node:fs/promises";
import type { Pool } from "../../src/db/pool.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant } from "./factories.ts";
import { invariantViolations, schedulableButPending, type Violation } from "./invariants.ts";
import { type OmegaProcess, omega, waitFor } from "./processes.ts";
import type { RaceWorkload } from "./race-workload.ts";
import { scratchFile } from "./scratch.ts";

/**
 * Runs a race: a cell, real `omega worker` processes, and a workload submitted over several SQL
 * connections at once while the workers run, with cancellations in flight. Shared by the race and
 * kill tests.
 */

const TENANTS = ["acme", "globex"] as const;

export async function createRaceCell(pool: Pool, workload: RaceWorkload): Promise<void> {
  await makeCell(pool, workload.cell);
  for (const tenant of TENANTS) {
    await makeTenant(pool, tenant);
    await allowAnyPriority(pool, tenant, workload.cell);
  }
  for (const m of workload.machines) {
    await makeMachine(pool, {
      cell: workload.cell,
      name: m.name,
      ...m.resources,
      labels: m.labels,
      taints: m.taints,
    });
  }
  await shareTheCell(pool, workload);
}

/**
 * Fair sharing in the race (SPEC "Sharing"): globex weighs twice acme, and their batch quotas form
 * one cohort, 60% and 40% of the cell's cpu, that lend each other what they leave unused. Together
 * they cover the cell, so the cohort alone never keeps work from room that is free (the race ends
 * with every schedulable task placed), yet each borrows from the other as arrivals come and go.
 */
async function shareTheCell(pool: Pool, workload: RaceWorkload): Promise<void> {
  const cpu = workload.machines.reduce((sum, m) => sum + m.resources.cpu, 0);
  await pool.query("select omega.set_tenant_weight('globex', 2)");
  for (const [tenant, part] of [
    ["acme", 0.6],
    ["globex", 0.4],
  ] as const) {
    await pool.query("select omega.put_quota($1, $2, 'batch', $3, 'race')", [
      tenant,
      workload.cell,
      { cpu: Math.ceil(part * cpu) },
    ]);
  }
}

/**
 * The built-in `batch` and `service` profiles as a race runs them: same policies, smaller plans
 * (4 batch jobs and 2 service jobs instead of 32 and 8), so more evaluations are in flight at once
 * on a cell this small — which is what a race needs — plus the overrides under test.
 */
export function raceProfiles(overrides: { conflictMode?: string; transactionMode?: string } = {}) {
  return {
    batch: { extends: "batch", batchSize: 4, ...overrides },
    service: { extends: "service", batchSize: 2, ...overrides },
    flow: { extends: "flow", batchSize: 8, ...overrides },
  };
}

/** Writes a --profiles file (see src/scheduler/profile-config.ts) and returns its path. */
export async function profilesFile(profiles: Record<string, unknown>): Promise<string> {
  const file = scratchFile("profiles.json");
  await writeFile(file, JSON.stringify(profiles));
  return file;
}

/** Starts one worker process per scheduler named, and waits until every one listens for work. */
export async function startWorkers(
  databaseUrl: string,
  schedulers: readonly string[],
  profiles?: string,
): Promise<OmegaProcess[]> {
  const workers = schedulers.map((s) =>
    omega(["worker", "--scheduler", s, ...(profiles ? ["--profiles", profiles] : [])], {
      DATABASE_URL: databaseUrl,
    }),
  );
  await Promise.all(
    workers.map((w, i) =>
      waitFor(
        async () => w.output().includes("scheduler worker started"),
        45_000,
        `worker ${i} to start`,
      ).catch((error) => {
        throw new Error(`${error.message}; its output:\n${w.output()}`);
      }),
    ),
  );
  return workers;
}

/**
 * Submits the workload (each submitter on its own connection, in order, with the workload's pauses)
 * and cancels the chosen jobs after their delay, while checking the invariants every `checkEveryMs`.
 * Returns the violations those checks saw while the race was going on.
 */
export async function runWorkload(
  pool: Pool,
  workload: RaceWorkload,
  options: { checkEveryMs?: number } = {},
): Promise<Violation[]> {
  const cancellations: Promise<unknown>[] = [];
  const violationsDuringRace: Violation[] = [];
  const submitters = [...new Set(workload.jobs.map((j) => j.submitter))];
  let done = false;
  const checker = (async () => {
    while (!done) {
      violationsDuringRace.push(...(await invariantViolations(pool)));
      await sleep(options.checkEveryMs ?? 700);
    }
  })();
  const submissions = Promise.all(
    submitters.map(async (submitter) => {
      const client = await pool.connect();
      try {
        for (const [i, job] of workload.jobs.entries()) {
          if (job.submitter !== submitter) continue;
          await sleep(job.delayMs);
          const tenant = TENANTS[i % TENANTS.length];
          const { rows } = await client.query("select omega.submit_job($1, $2) as id", [tenant, job.spec]);
          if (job.cancelAfterMs !== null) {
            const id = rows[0].id;
            const after = job.cancelAfterMs;
            cancellations.push(sleep(after).then(() => pool.query("select omega.cancel_job($1)", [id])));
          }
        }
      } finally {
        client.release();
      }
    }),
  );
  try {
    await submissions;
    await Promise.all(cancellations);
  } finally {
    done = true;
    await checker;
  }
  return violationsDuringRace;
}

/**
 * How long the race must stay over before it counts as over: longer than a worker's stale sweep
 * (STALE_SWEEP_MS, 2 s), which may hand a parked job to a scheduler that then preempts — a run
 * that looked settled for one poll once stopped its workers right after such a preemption, with
 * the victim not yet placed again.
 */
const SETTLE_MS = 3_000;

/**
 * Waits until the race is over: no job is leased, no pending task could be placed anywhere, and
 * neither has changed — no plan committed, no claim made or ended — for SETTLE_MS. On the
 * deadline, fails with what is stuck and why (each job's pending_tasks reason and lease), after
 * `context` (the workload and its seed, to replay it).
 */
export async function waitQuiescent(pool: Pool, timeoutMs: number, context?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let settled: { since: number; progress: string } | undefined;
  for (;;) {
    const leased = await pool.query(
      "select id, lease_owner from omega.jobs where state = 'pending' and lease_expires > now() order by id",
    );
    const stuck = leased.rows.length === 0 ? await schedulableButPending(pool) : [];
    if (leased.rows.length === 0 && stuck.length === 0) {
      const progress = await progressMark(pool);
      if (settled?.progress !== progress) settled = { since: Date.now(), progress };
      else if (Date.now() - settled.since >= SETTLE_MS) return;
    } else {
      settled = undefined;
    }
    if (Date.now() > deadline) {
      const all = await schedulableButPending(pool);
      throw new Error(
        `${context ? `${context}: ` : ""}not quiescent after ${timeoutMs} ms: ${leased.rows.length} jobs still leased ` +
          `(${JSON.stringify(leased.rows.slice(0, 10))}); pending tasks that could be placed:\n` +
          all.map((r) => JSON.stringify(r)).join("\n"),
      );
    }
    await sleep(250);
  }
}

/** What moves while schedulers work: the last plan committed and the claims held. */
async function progressMark(pool: Pool): Promise<string> {
  const { rows } = await pool.query(
    "select (select coalesce(max(id), 0) from omega.plans) || '/' || (select count(*) from omega.claims) as mark",
  );
  return rows[0].mark;
}

export interface SchedulerConflicts {
  scheduler: string;
  plans: number;
  attempted: number;
  committed: number;
  conflicts: number;
  conflictFraction: number;
  rejected: Record<string, number>;
}

/** omega.scheduler_stats per scheduler that made plans, with its rejections by reason (omega.plans). */
export async function conflictStats(pool: Pool): Promise<SchedulerConflicts[]> {
  const { rows } = await pool.query(`
    select s.scheduler, s.plans::int, s.placements_attempted::int as attempted,
      s.placements_committed::int as committed, s.conflicts::int, s.conflict_fraction as "conflictFraction",
      coalesce((select jsonb_object_agg(r.reason, r.n) from (
        select key as reason, sum(value::int)::int as n
        from omega.plans p, jsonb_each_text(p.rejected) where p.scheduler = s.scheduler group by key) r), '{}') as rejected
    from omega.scheduler_stats s where s.plans > 0 order by s.scheduler`);
  return rows;
}

export function formatConflicts(title: string, stats: readonly SchedulerConflicts[]): string {
  const lines = stats.map(
    (s) =>
      `  ${s.scheduler.padEnd(8)} plans ${String(s.plans).padStart(4)}  placements ${s.committed}/${s.attempted}` +
      `  conflicts ${String(s.conflicts).padStart(3)}  conflict fraction ${s.conflictFraction.toFixed(3)}` +
      `  rejected ${JSON.stringify(s.rejected)}`,
  );
  return [title, ...lines].join("\n");
}

/** Jobs parked and deferred (backed off after conflicts), summed over the workers' evaluation logs. */
export function evaluationTotals(workers: readonly OmegaProcess[]): { parked: number; deferred: number } {
  const totals = { parked: 0, deferred: 0 };
  for (const w of workers) {
    for (const line of w.output().split("\n")) {
      if (!line.includes('"msg":"evaluation"')) continue;
      const { parked = 0, deferred = 0 } = JSON.parse(line);
      totals.parked += parked;
      totals.deferred += deferred;
    }
  }
  return totals;
}

export async function stopAll(workers: readonly OmegaProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
