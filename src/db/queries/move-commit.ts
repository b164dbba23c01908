import type { Queryable } from "./queryable.ts";

/** One move the rebalancer proposes: the task's claim leaves `from` for `to`. */
export interface MoveProposal {
  taskId: number;
  from: number;
  to: number;
  /** The target's version as the planner saw it (compared only in coarse conflict mode). */
  toVersion?: number;
  /** The job the move makes room for (Defragment): the commit applies the priority rule to it. */
  forJob?: number | null;
  strategy: string;
}

export interface MoveOutcome {
  taskId: number;
  from: number;
  to: number;
  outcome: "moved" | "rejected";
  /** Why a move was rejected (omega.commit_move's reasons); null when it moved. */
  reason: string | null;
}

/**
 * Commits one move through omega.commit_move: the claim leaves `from` and the task is placed on
 * `to` in one transaction, or nothing changes (one row either way).
 */
export async function moveCommit(
  db: Queryable,
  args: {
    cell: string;
    scheduler: string;
    worker: string;
    move: MoveProposal;
    conflictMode?: "fine" | "coarse";
  },
): Promise<MoveOutcome> {
  const { move } = args;
  const { rows } = await db.query<{ outcome: MoveOutcome["outcome"]; reason: string | null }>(
    "select outcome, reason from omega.commit_move($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [
      args.cell,
      args.scheduler,
      move.taskId,
      move.from,
      move.to,
      move.toVersion ?? null,
      move.forJob ?? null,
      move.strategy,
      args.worker,
      args.conflictMode ?? "fine",
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.commit_move returned no row");
  return { taskId: move.taskId, from: move.from, to: move.to, outcome: row.outcome, reason: row.reason };
}
