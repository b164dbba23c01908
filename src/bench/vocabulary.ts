import type { Pool } from "../db/pool.ts";
import { commitPlan, leaseWork, releaseLeases } from "../db/scheduling.ts";
import { CellSnapshot } from "../db/snapshot.ts";
import { InFlight, mulberry32, planJob } from "../placement/index.ts";
import { batchProfile } from "../placement/profiles.ts";
import { createCell, createTenant } from "./cell.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";

export interface VocabularyOptions {
  machines: number;
  jobs: number;
  tasks: number;
}

const CELL = "vocab";

/** One job spec per constraint kind (each job gets its own `app` label, so jobs do not repel each other). */
const KINDS: Record<string, (i: number) => Record<string, unknown>> = {
  plain: () => ({}),
  tolerations: () => ({
    constraints: { tolerations: [{ key: "dedicated", operator: "Exists", effect: "NoSchedule" }] },
  }),
  "affinity Gt/In": () => ({
    constraints: {
      affinity: [
        { key: "gen", operator: "Gt", values: ["2"] },
        { key: "zone", operator: "In", values: ["z0", "z1"] },
      ],
    },
  }),
  preferredAffinity: () => ({
    constraints: { preferredAffinity: [{ weight: 50, key: "zone", operator: "In", values: ["z1"] }] },
  }),
  "topologySpread zone": () => ({ constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } }),
  "jobAntiAffinity machine": (i) => ({
    labels: { app: `a${i}` },
    constraints: { jobAntiAffinity: [{ selector: { app: `a${i}` }, topologyKey: "machine" }] },
  }),
  "jobAffinity zone": (i) => ({
    labels: { app: `a${i}` },
    constraints: { jobAffinity: [{ selector: { app: `a${i}` }, topologyKey: "zone" }] },
  }),
  "host ports": () => ({ ports: [8080] }),
};

/**
 * Scenario `vocabulary`: placements per second of the batch profile's plan-and-commit loop, in this
 * process (lease, plan, commit through omega.commit_plan, release), on a cell of `machines`, for
 * `jobs` jobs of `tasks` tasks of each constraint kind beside the plain case. Kubernetes'
 * inter-pod affinity is its slowest plugin; here anti-affinity must stay within 3× of plain.
 */
export async function runVocabulary(options: VocabularyOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const rows: Record<string, string | number>[] = [];
  let machine: Awaited<ReturnType<typeof describeMachine>> | undefined;
  try {
    for (const [kind, spec] of Object.entries(KINDS)) {
      const db = await databases.create(kind.split(" ")[0] ?? kind);
      try {
        machine ??= await describeMachine(db.pool, server.kind);
        if (rows.length === 0) console.log(machineLine(machine));
        await createCell(db.pool, { name: CELL, machines: options.machines, cpu: 32_000, memory: 131_072 });
        await db.pool.query(
          "update omega.machines set labels = labels || jsonb_build_object('gen', (id % 5)::text)",
        );
        await createTenant(db.pool, "bench");
        rows.push({ kind, ...(await measure(db.pool, options, spec)) });
      } finally {
        await db.drop();
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  const plain = Number(rows[0]?.placementsPerSecond ?? 0);
  for (const row of rows) row.vsPlain = round(Number(row.placementsPerSecond) / plain, 2);
  printTable(
    `vocabulary: ${options.jobs} jobs × ${options.tasks} tasks per kind on ${options.machines} machines`,
    rows,
  );
  const anti = rows.find((r) => r.kind === "jobAntiAffinity machine");
  const verdict = `anti-affinity at ${anti?.vsPlain}× of plain (target ≥ 0.33)`;
  console.log(`\n${verdict}`);
  if (!machine) return;
  const file = await writeResults("vocabulary", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    verdict,
    rows,
  });
  console.log(`wrote ${file}`);
}

async function measure(
  pool: Pool,
  options: VocabularyOptions,
  spec: (i: number) => Record<string, unknown>,
): Promise<Record<string, number>> {
  for (let i = 0; i < options.jobs; i++) {
    await pool.query("select omega.submit_job('bench', $1)", [
      JSON.stringify({
        cell: CELL,
        scheduler: "batch",
        tasks: options.tasks,
        resources: { cpu: 100, memory: 128 },
        ...spec(i),
      }),
    ]);
  }
  await pool.query("analyze");
  const snapshot = new CellSnapshot(pool, CELL);
  const random = mulberry32(1);
  const t0 = performance.now();
  let placed = 0;
  let rounds = 0;
  while (rounds < 10_000) {
    rounds++;
    const { views } = await leaseWork(pool, {
      cell: CELL,
      scheduler: "batch",
      owner: "bench",
      limit: 32,
      leaseSeconds: 30,
    });
    if (views.length === 0) break;
    await snapshot.sync();
    const inflight = new InFlight();
    const placements = views.flatMap(
      (v) => planJob(snapshot.list(), v, batchProfile, inflight, random).placements,
    );
    const outcomes = await commitPlan(pool, {
      cell: CELL,
      scheduler: "batch",
      worker: "bench",
      placements,
      transactionMode: "incremental",
      conflictMode: "fine",
    });
    placed += outcomes.filter((o) => o.outcome === "committed").length;
    await releaseLeases(
      pool,
      CELL,
      views.map((v) => v.id),
      "bench",
    );
    if (placements.length === 0) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { placed, rounds, seconds: round(seconds, 2), placementsPerSecond: round(placed / seconds, 0) };
}
