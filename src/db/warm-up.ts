import type { Logger } from "../log.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { Client, Pool } from "./pool.ts";
import { jobGet, jobsGet } from "./queries/job-get.ts";
import { jobSubmitBatch } from "./queries/job-submit-batch.ts";
import { commitPlan, leaseWork, registerScheduler } from "./scheduling.ts";

/**
 * Opens `connections` of the pool's connections and runs `warm` once on each, in a transaction
 * that is rolled back, so that a process meets its first burst with connections that have read
 * their catalogs and planned the hot statements (migration 0290: a cold backend's first submission
 * costs about 38 ms against 2–3 ms for its next). Kept open: idle connections are never closed.
 * All at once: each fixture is the backend's own (0290), and their round trips overlap.
 * A warm-up that fails is logged and ignored: it only ever saves time.
 */
export async function openWarmConnections(
  pool: Pool,
  connections: number,
  warm: (client: Client) => Promise<void>,
  log: Logger,
): Promise<void> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  try {
    await Promise.all(
      clients.map(async (client) => {
        await client.query("begin");
        try {
          await warm(client);
        } catch (error) {
          log.warn({ err: error }, "a connection's warm-up failed; it starts cold");
        } finally {
          // The plans go with the fixture; the catalogs read and the functions compiled stay. A
          // plan made on a new database's empty tables is generic and kept: the commit's task →
          // job lookup chose an index on (cell, job_id, …) over the primary key there and read
          // 400,619 buffers a commit once the tasks came (throughput bench, 4,790 against
          // 16,717 placements/s).
          await client.query("rollback; discard plans");
        }
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
}

interface Fixture {
  cell: string;
  tenant: string;
  tenant_id: number;
  job_id: number;
  machine_id: number;
  machine_version: number;
}

async function fixture(client: Client, scheduler: string): Promise<Fixture> {
  const { rows } = await client.query<Fixture>("select * from omega.warm_up_fixture($1)", [scheduler]);
  if (!rows[0]) throw new Error("omega.warm_up_fixture returned nothing");
  return rows[0];
}

/**
 * The API's hot path: submissions alone and together (omega.submit_jobs takes a different branch
 * for each), the read-back that answers them, and a job's detail.
 */
export async function warmSubmission(client: Client): Promise<void> {
  const f = await fixture(client, "batch");
  const spec = { cell: f.cell, tasks: 1, resources: { cpu: 100, memory: 128, gpu: 0, disk: 0 } };
  await jobSubmitBatch(client, [{ tenant: f.tenant, spec }]);
  await jobSubmitBatch(client, [
    { tenant: f.tenant, spec },
    { tenant: f.tenant, spec },
  ]);
  await jobsGet(client, [{ id: f.job_id, tenantId: f.tenant_id }]);
  await jobGet(client, f.job_id);
}

/** A scheduler worker's hot path: the lease with the snapshot's read, then with its sync, and a commit. */
export async function warmScheduling(client: Client, profile: SchedulerProfile): Promise<void> {
  // The fixture's job must name a registered profile. The worker registers its profile before it
  // warms up; registering it again here would update the profile's row and hold that row until the
  // rollback, and every other connection warming up (and every worker starting) would wait for it:
  // up to a second with four workers starting together (session 24). Only a profile nobody has
  // registered yet (a caller that did not) is registered here, rolled back with the rest.
  const { rowCount } = await client.query("select from omega.schedulers where name = $1", [profile.name]);
  if (rowCount === 0) await registerScheduler(client, profile.name, profile);
  const f = await fixture(client, profile.name);
  const lease = { cell: f.cell, scheduler: profile.name, owner: "warm-up", limit: 1, leaseSeconds: 5 };
  const { views, synced } = await leaseWork(client, lease, { cursor: null });
  await leaseWork(client, lease, { cursor: synced?.xmin ?? null });
  const outcomes = await commitPlan(client, {
    cell: f.cell,
    scheduler: profile.name,
    worker: "warm-up",
    placements: views.flatMap((v) =>
      v.pendingTaskIds.map((taskId) => ({
        taskId,
        machineId: f.machine_id,
        machineVersion: f.machine_version,
      })),
    ),
    transactionMode: profile.transactionMode,
    conflictMode: profile.conflictMode,
  });
  // A commit that placed nothing would have left its writes cold.
  if (!outcomes.some((o) => o.outcome === "committed"))
    throw new Error("the warm-up's commit placed nothing");
}
