import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { leaseWork, parkJobs } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  emptyState,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";
import { cohortViolations } from "../support/invariants.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

let machine: { id: number; version: number };
beforeEach(async () => {
  await emptyState(db.pool);
  await makeCell(db.pool);
  for (const t of ["lender", "borrower", "third"]) await makeTenant(db.pool, t);
  machine = await makeMachine(db.pool, { cpu: 64000, memory: 64000, maxTasks: 1000 });
});

async function quota(
  tenant: string,
  cpu: number,
  sharing: { cohort?: string; borrowingLimit?: object; lendingLimit?: object } = { cohort: "research" },
): Promise<void> {
  await db.pool.query("select omega.put_quota($1, 'east', 'batch', $2, $3, $4, $5)", [
    tenant,
    { cpu },
    sharing.cohort ?? null,
    sharing.borrowingLimit ?? null,
    sharing.lendingLimit ?? null,
  ]);
}

/**
 * Submits `tasks` one-cpu tasks for the tenant and proposes them all on the machine, with `victims`
 * for the first task, or for each task (a function of its index).
 */
async function run(
  tenant: string,
  tasks: number,
  victims: number[] | ((task: number) => number[]) = [],
  priority = 150,
) {
  const job = await submitJob(db.pool, { tasks, priority, resources: { cpu: 1000, memory: 1 } }, tenant);
  const ids = await pendingTaskIds(db.pool, job);
  const { rows } = await db.pool.query("select version from omega.machines where id = $1", [machine.id]);
  const out = await commitPlan(
    db.pool,
    ids.map((taskId, i) => ({
      taskId,
      machineId: machine.id,
      version: rows[0].version,
      victims: typeof victims === "function" ? victims(i) : i === 0 ? victims : undefined,
    })),
  );
  return { job, out, reasons: out.filter((o) => o.outcome !== "evicted").map((o) => o.reason) };
}

async function usage(tenant: string) {
  const { rows } = await db.pool.query(
    `select nominal_cpu, used_cpu, borrowed_cpu, lent_cpu, limit_cpu, cohort from omega.quota_usage
     where tenant = $1 and cell = 'east' and band = 'batch'`,
    [tenant],
  );
  return rows[0];
}

describe("cohorts", () => {
  it("let a member borrow what the others leave unused, and show it borrowed and lent", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000);
    const { reasons } = await run("borrower", 7);
    // Its own 2, the lender's 4, and no more.
    expect(reasons).toEqual([null, null, null, null, null, null, "cohort_exhausted"]);
    expect(await usage("borrower")).toMatchObject({
      nominal_cpu: 2000,
      limit_cpu: 2000,
      used_cpu: 6000,
      borrowed_cpu: 4000,
      lent_cpu: 0,
      cohort: "research",
    });
    expect(await usage("lender")).toMatchObject({ used_cpu: 0, borrowed_cpu: 0, lent_cpu: 4000 });
    expect(await cohortViolations(db.pool)).toEqual([]);
  });

  it("hold a borrower to its borrowingLimit and a lender to its lendingLimit", async () => {
    await quota("lender", 4000, { cohort: "research", lendingLimit: { cpu: 1000 } });
    await quota("third", 4000);
    await quota("borrower", 1000, { cohort: "research", borrowingLimit: { cpu: 3000 } });
    // Ceiling: 1 + 3 borrowed (of 1 + 4 lendable): the fifth is over its quota.
    expect((await run("borrower", 5)).reasons).toEqual([null, null, null, null, "quota_exceeded"]);
    await quota("borrower", 1000, { cohort: "research" });
    // Now unlimited borrowing: 1 own + 1 from lender + 4 from third = 6.
    expect((await run("borrower", 3)).reasons).toEqual([null, null, "cohort_exhausted"]);
    expect(await cohortViolations(db.pool)).toEqual([]);
  });

  it("admit at submission what fits the quota plus what may be borrowed, and refuse the rest", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000, { cohort: "research", borrowingLimit: { cpu: 1000 } });
    await expect(
      submitJob(
        db.pool,
        { tasks: 3, resources: { cpu: 1000, memory: 1 }, gang: { minAvailable: 3 } },
        "borrower",
      ),
    ).resolves.toBeGreaterThan(0);
    await expect(
      submitJob(
        db.pool,
        { tasks: 4, resources: { cpu: 1000, memory: 1 }, gang: { minAvailable: 4 } },
        "borrower",
      ),
    ).rejects.toThrow(/can never run within its batch quota/);
  });

  it("refuse a lendingLimit or a cohort change that would take back what is lent now (409)", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000);
    await run("borrower", 5);
    await expect(quota("lender", 4000, { cohort: "research", lendingLimit: { cpu: 2000 } })).rejects.toThrow(
      /lend less than its members borrow|over what cohort/,
    );
    await expect(quota("lender", 4000, {})).rejects.toThrow(/over what cohort|lend less/);
    expect(await usage("lender")).toMatchObject({ nominal_cpu: 4000, cohort: "research" });
    await expect(quota("borrower", 2000, {})).rejects.toThrow(/below what/);
  });

  it("refuse limits without a cohort, and bad limits (422)", async () => {
    await expect(quota("lender", 4000, { borrowingLimit: { cpu: 1 } })).rejects.toThrow(/need a cohort/);
    await expect(quota("lender", 4000, { cohort: "Bad Name" })).rejects.toThrow(/cohort/);
    await expect(quota("lender", 4000, { cohort: "r", lendingLimit: { cpu: "lots" } })).rejects.toThrow(
      /quantity/,
    );
  });
});

describe("reclaim", () => {
  it("refuses the lender's own work while its quota is lent out, unless it evicts borrowed claims", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000);
    const borrowed = await run("borrower", 6);
    expect(borrowed.reasons.every((r) => r === null)).toBe(true);
    // Nothing to lend left: the lender's own task waits.
    expect((await run("lender", 1)).reasons).toEqual(["cohort_exhausted"]);
    // With a borrowed claim of equal priority as its victim it goes through, as a reclaim.
    const victim = borrowed.out[0]?.task_id as number;
    const back = await run("lender", 1, [victim]);
    expect(back.reasons).toEqual([null]);
    expect(back.out.find((o) => o.outcome === "evicted")?.task_id).toBe(victim);
    const { rows } = await db.pool.query(
      "select kind, reason from omega.events where task_id = $1 order by id desc limit 1",
      [victim],
    );
    expect(rows[0].kind).toBe("preempted");
    expect(rows[0].reason).toMatch(/^reclaim/);
    expect(await usage("borrower")).toMatchObject({ used_cpu: 5000, borrowed_cpu: 3000 });
    expect(await cohortViolations(db.pool)).toEqual([]);
  });

  it("never evicts a claim that does not borrow, nor one of higher priority, nor production for production", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000);
    const own = await run("borrower", 2);
    // The borrower is within its own quota: its claims are not borrowed.
    const r1 = await run("lender", 1, [own.out[0]?.task_id as number]);
    expect(r1.reasons).toEqual(["victim_not_preemptible"]);
    const high = await run("borrower", 4, [], 190);
    expect(high.reasons.every((r) => r === null)).toBe(true);
    const r2 = await run("lender", 1, [high.out[0]?.task_id as number], 150);
    expect(r2.reasons).toEqual(["victim_not_preemptible"]);
    expect(await cohortViolations(db.pool)).toEqual([]);
  });

  it("takes back no more than a member borrows: a plan's second reclaim from it gives nothing back", async () => {
    await quota("lender", 4000);
    await quota("borrower", 2000);
    const own = await run("borrower", 2);
    const extra = await run("borrower", 1); // borrows one core
    await run("lender", 3); // the cohort is full
    const victims = [...own.out, ...extra.out].map((o) => o.task_id as number);
    // Two lender tasks, each proposing a borrower claim: only the first gives quota back.
    const { out, reasons } = await run("lender", 2, (i) => [victims[2 - i] as number]);
    expect(reasons).toEqual([null, "victim_not_preemptible"]);
    expect(out.filter((o) => o.outcome === "evicted")).toHaveLength(1);
    expect(await usage("borrower")).toMatchObject({ used_cpu: 2000, borrowed_cpu: 0 });
    expect(await cohortViolations(db.pool)).toEqual([]);
  });

  it("unparks a lender's parked work, and wakes its scheduler, when another member starts borrowing", async () => {
    await quota("lender", 2000);
    await quota("borrower", 2000);
    await quota("third", 2000, {});
    await run("lender", 1);
    // The lender's next job parks (as a worker parks work that fits nowhere on its snapshot).
    const parked = await submitJob(db.pool, { priority: 150, resources: { cpu: 1000, memory: 1 } }, "lender");
    await leaseWork(db.pool, { cell: "east", scheduler: "batch", owner: "w", limit: 10, leaseSeconds: 5 });
    const { rows: cell } = await db.pool.query("select capacity_epoch from omega.cells where name = 'east'");
    const park = () =>
      parkJobs(db.pool, {
        cell: "east",
        jobs: [{ jobId: parked, reason: "quota" }],
        owner: "w",
        seenEpoch: Number(cell[0].capacity_epoch),
      });
    expect(await park()).toEqual(new Set([parked]));
    const blocked = async () =>
      (await db.pool.query("select blocked from omega.jobs where id = $1", [parked])).rows[0].blocked;

    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const wakes: string[] = [];
    listener.on("notification", (n) => wakes.push(n.payload ?? ""));
    await listener.query("listen omega_wake");
    try {
      // Within their own quotas, or outside the cohort: nothing a reclaim could take back.
      await run("borrower", 2);
      await run("third", 2);
      expect(await blocked()).toBe(true);
      // The borrower goes past its nominal quota: the lender's parked job may reclaim now.
      const epoch = async () =>
        Number(
          (await db.pool.query("select capacity_epoch from omega.cells where name = 'east'")).rows[0]
            .capacity_epoch,
        );
      const before = await epoch();
      await run("borrower", 1);
      expect(await blocked()).toBe(false);
      // A park on a plan made before the borrowing is refused (the job is leased again instead).
      expect(await epoch()).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(wakes).toContain("east batch");
    } finally {
      await listener.end();
    }
  });
});
