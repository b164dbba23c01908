/**
 * The rules of a move that both the planner and omega.commit_move apply (test/conformance/
 * rebalance-rules.test.ts runs the same cases through both).
 */

/** Work of priority `moved` may be moved to make room for a job of priority `forJob`: never higher for lower. */
export function mayMoveFor(moved: number, forJob: number): boolean {
  return moved <= forJob;
}

/**
 * Whether one more of a job's tasks may be taken away: a running task becomes unavailable until its
 * new machine runs it; one that was not running loses nothing. No budget: always.
 */
export function disruptionAllows(
  maxUnavailable: number | null,
  unavailable: number,
  running: boolean,
): boolean {
  return !running || maxUnavailable === null || unavailable + 1 <= maxUnavailable;
}
