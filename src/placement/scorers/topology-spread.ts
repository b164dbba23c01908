import type { MachineView } from "../types.ts";
import type { TopologyCounts } from "../vocabulary.ts";

/**
 * ScheduleAnyway (and DoNotSchedule, among what it allows): fewer of the job's tasks in the
 * machine's domain score higher, 100 at the least-loaded domain down to 0 at maxSkew above it.
 */
export function topologySpreadScore(spreads: readonly TopologyCounts[], machine: MachineView): number {
  if (spreads.length === 0) return 0;
  let total = 0;
  for (const s of spreads) {
    const n = s.countOf(machine);
    if (n === undefined) continue;
    total += Math.max(0, 100 - ((n - s.min) * 100) / (s.term.maxSkew + 1));
  }
  return total / spreads.length;
}
