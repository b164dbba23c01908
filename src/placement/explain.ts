import type { Explanation, Filter, InFlightView, JobView, MachineView, RejectionReason } from "./types.ts";

/**
 * Why the job's next task finds no machine: every filter over every machine, counting the first
 * reason each machine fails with (filters in pipeline order). O(machines), run once per failing job.
 */
export function explain(
  machines: readonly MachineView[],
  job: JobView,
  inflight: InFlightView,
  filters: readonly Filter[],
): Explanation {
  const rejected: Partial<Record<RejectionReason, number>> = {};
  let feasible = 0;
  for (const machine of machines) {
    let reason: RejectionReason | null = null;
    for (const filter of filters) {
      const result = filter(machine, job, inflight);
      if (!result.ok) {
        reason = result.reason;
        break;
      }
    }
    if (reason === null) feasible++;
    else rejected[reason] = (rejected[reason] ?? 0) + 1;
  }
  return { machines: machines.length, feasible, rejected };
}

/**
 * One line for people: "0/10000 machines fit: 9000 insufficient cpu, 1000 taint not tolerated",
 * or, when the quota is what ran out, "quota: the batch quota has 500 cpu free and a task needs 1000";
 * reasons by count, most first (ties by name, so the text is stable).
 */
export function formatExplanation(e: Explanation): string {
  if (e.quota) {
    const q = e.quota;
    return `quota: the ${q.band} quota has ${q.free} ${q.dimension} free and a task needs ${q.request}`;
  }
  const reasons = (Object.entries(e.rejected) as [RejectionReason, number][])
    .filter(([, n]) => n > 0)
    .sort(([a, n], [b, m]) => m - n || (a < b ? -1 : a > b ? 1 : 0))
    .map(([reason, n]) => `${n} ${reason}`);
  const head = `${e.feasible}/${e.machines} machines fit`;
  return reasons.length === 0 ? head : `${head}: ${reasons.join(", ")}`;
}
