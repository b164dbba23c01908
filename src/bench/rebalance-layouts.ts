import type { Pool } from "../db/pool.ts";
import { commitPlan } from "../db/scheduling.ts";
import type { StrategyName } from "../rebalance/types.ts";
import { createCell, createTenant } from "./cell.ts";

/** One case of the `rebalance` bench: a cell laid out badly on purpose, for one strategy to repair. */
export interface Layout {
  name: string;
  strategy: StrategyName;
  /** Lays the cell out; returns how many tasks hold claims. */
  build(pool: Pool, cell: string, machines: number): Promise<number>;
}

const TENANT = "bench";

/** Machine ids of the cell, by name order (m1, m2, ...). */
async function machineIds(pool: Pool, cell: string): Promise<{ id: number; version: number }[]> {
  const { rows } = await pool.query<{ id: number; version: number }>(
    "select id, version from omega.machines where cell = $1 order by id",
    [cell],
  );
  return rows;
}

/** A job of one task per entry of `on`, each placed on that machine through omega.commit_plan. */
async function placeJob(
  pool: Pool,
  cell: string,
  spec: Record<string, unknown>,
  on: readonly { id: number; version: number }[],
): Promise<number> {
  if (on.length === 0) return 0;
  const { rows } = await pool.query<{ id: number }>("select omega.submit_job($1, $2) as id", [
    TENANT,
    { cell, tasks: on.length, resources: { cpu: 1000, memory: 1024 }, ...spec },
  ]);
  const { rows: tasks } = await pool.query<{ id: number }>(
    "select id from omega.tasks where cell = $1 and job_id = $2 order by id",
    [cell, rows[0]?.id],
  );
  const fresh = new Map((await machineIds(pool, cell)).map((m) => [m.id, m.version]));
  const out = await commitPlan(pool, {
    cell,
    scheduler: "batch",
    worker: "bench",
    placements: tasks.map((t, i) => {
      const m = on[i] as { id: number };
      return { taskId: t.id, machineId: m.id, machineVersion: fresh.get(m.id) ?? 0 };
    }),
    transactionMode: "all-or-nothing",
    conflictMode: "fine",
  });
  const placed = out.filter((o) => o.outcome === "committed").length;
  if (placed !== on.length) throw new Error(`layout: ${on.length - placed} placements refused`);
  return placed;
}

/** A cell of `machines` 4-core, 16 GiB machines in zones z0..z2 and the bench tenant. */
export async function prepareCell(pool: Pool, cell: string, machines: number): Promise<void> {
  await createCell(pool, { name: cell, machines, cpu: 4000, memory: 16_384, zones: 3 });
  await createTenant(pool, TENANT).catch(() => {});
}

export const LAYOUTS: readonly Layout[] = [
  {
    // A quarter of the machines full (4 one-core tasks each), the rest empty.
    name: "skewed",
    strategy: "LowNodeUtilization",
    async build(pool, cell, machines) {
      const ms = await machineIds(pool, cell);
      const hot = ms.slice(0, Math.ceil(machines / 4));
      return placeJob(
        pool,
        cell,
        {},
        hot.flatMap((m) => [m, m, m, m]),
      );
    },
  },
  {
    // Half the machines at 50%, the other half at 25%: the quarter-full ones can be emptied.
    name: "sparse",
    strategy: "HighNodeUtilization",
    async build(pool, cell) {
      const ms = await machineIds(pool, cell);
      return placeJob(
        pool,
        cell,
        {},
        ms.flatMap((m, i) => (i % 2 === 0 ? [m, m] : [m])),
      );
    },
  },
  {
    // Jobs of 6 tasks spread by zone while zone z2 was down (3 per zone); z2 back: a share is 2.
    name: "zone-back",
    strategy: "RemoveDuplicates",
    async build(pool, cell, machines) {
      await pool.query(
        "update omega.machines set state = 'down' where cell = $1 and labels ->> 'zone' = 'z2'",
        [cell],
      );
      const up = (
        await pool.query<{ id: number; version: number; zone: string }>(
          "select id, version, labels ->> 'zone' as zone from omega.machines where cell = $1 and state = 'up' order by id",
          [cell],
        )
      ).rows;
      const z0 = up.filter((m) => m.zone === "z0");
      const z1 = up.filter((m) => m.zone === "z1");
      let placed = 0;
      const jobs = Math.max(1, Math.floor(machines / 10));
      for (let j = 0; j < jobs; j++) {
        const pick = (zone: typeof z0, k: number) =>
          zone[(j * 3 + k) % zone.length] as { id: number; version: number };
        const on = [pick(z0, 0), pick(z0, 1), pick(z0, 2), pick(z1, 0), pick(z1, 1), pick(z1, 2)];
        placed += await placeJob(
          pool,
          cell,
          { resources: { cpu: 250, memory: 256 }, constraints: { spreadBy: "zone" } },
          on,
        );
      }
      await pool.query("update omega.machines set state = 'up' where cell = $1", [cell]);
      return placed;
    },
  },
  {
    // 8-GPU machines each running one 2-GPU task: 6 GPUs free everywhere, and a gang of 8-GPU
    // tasks (a tenth of the machines) that fits nowhere.
    name: "fragmented",
    strategy: "Defragment",
    async build(pool, cell, machines) {
      await pool.query("update omega.machines set gpu = 8 where cell = $1", [cell]);
      const ms = await machineIds(pool, cell);
      const placed = await placeJob(pool, cell, { resources: { cpu: 500, memory: 1024, gpu: 2 } }, ms);
      const gang = Math.max(2, Math.floor(machines / 10));
      await pool.query("select omega.submit_job($1, $2)", [
        TENANT,
        { cell, tasks: gang, resources: { cpu: 1000, memory: 1024, gpu: 8 }, gang: { minAvailable: gang } },
      ]);
      return placed;
    },
  },
];
