import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";

export interface SchedulerSummary {
  name: string;
  profile: unknown;
  updatedAt: Date;
  stats: {
    plans: number;
    placementsAttempted: number;
    placementsCommitted: number;
    placementsRejected: number;
    conflicts: number;
    /** Conflicted plans per plan that committed something (Omega's conflict fraction). */
    conflictFraction: number;
    avgCommitMs: number;
  };
}

/** Scheduler profiles with their live commit statistics (omega.scheduler_stats). */
export async function schedulerList(db: Kysely<DB>): Promise<SchedulerSummary[]> {
  const rows = await db
    .selectFrom("schedulers as s")
    .leftJoin("scheduler_stats as st", "st.scheduler", "s.name")
    .selectAll("s")
    .select([
      "st.plans",
      "st.placements_attempted",
      "st.placements_committed",
      "st.placements_rejected",
      "st.conflicts",
      "st.conflict_fraction",
      "st.avg_commit_ms",
    ])
    .orderBy("s.name")
    .execute();
  return rows.map((r) => ({
    name: r.name,
    profile: r.profile,
    updatedAt: r.updated_at,
    stats: {
      plans: Number(r.plans ?? 0),
      placementsAttempted: Number(r.placements_attempted ?? 0),
      placementsCommitted: Number(r.placements_committed ?? 0),
      placementsRejected: Number(r.placements_rejected ?? 0),
      conflicts: Number(r.conflicts ?? 0),
      conflictFraction: Number(r.conflict_fraction ?? 0),
      avgCommitMs: Number(r.avg_commit_ms ?? 0),
    },
  }));
}
