import { labelOf } from "../../placement/labels.ts";
import type { CellModel } from "../cell-model.ts";

/**
 * RemoveDuplicates, as spread repair: a job that names `spreadBy` holds at most its share,
 * ceil(tasks / values), on each value of the label — but the share shrinks when machines of a new
 * value come back, leaving the values that took the job's tasks meanwhile over it. Moves a task
 * from the most crowded value over its share to a machine of the least crowded value under it; and
 * a task past its job's `maxPerMachine` to a machine under it. Each move lowers the excess by one,
 * so it converges.
 */
export function removeDuplicates(model: CellModel, budget: number): void {
  let planned = 0;
  for (const job of [...model.state.jobs.values()].sort((a, b) => a.id - b.id)) {
    while (planned < budget && repairOne(model, job.id)) planned++;
    if (planned >= budget) return;
  }
}

function repairOne(model: CellModel, jobId: number): boolean {
  const job = model.job(jobId);
  if (!job) return false;
  const max = job.constraints.maxPerMachine;
  if (max !== null) {
    for (const [machineId, n] of model.tasksOf(jobId)) {
      if (n > max && moveAnyTo(model, jobId, machineId, () => true, `more than maxPerMachine ${max}`))
        return true;
    }
  }
  const spread = model.spreadCounts(job);
  if (!spread) return false;
  const over = [...spread.counts].filter(([, n]) => n > spread.share).sort((a, b) => b[1] - a[1]);
  for (const [value] of over) {
    const machines = [...model.tasksOf(jobId).keys()].filter(
      (id) => labelOf(model.machines.get(id)?.labels ?? {}, spread.label) === value,
    );
    for (const machineId of machines) {
      const fewer = (id: number) => {
        const v = labelOf(model.machines.get(id)?.labels ?? {}, spread.label);
        return (
          v !== undefined && v !== value && (spread.counts.get(v) ?? 0) + 1 < (spread.counts.get(value) ?? 0)
        );
      };
      const why = `${spread.label}=${value} holds ${spread.counts.get(value)} of the job's tasks, its share is ${spread.share}`;
      if (moveAnyTo(model, jobId, machineId, fewer, why)) return true;
    }
  }
  return false;
}

/** Moves one movable task of the job off `from` to the emptiest machine passing `allowed`. */
function moveAnyTo(
  model: CellModel,
  jobId: number,
  from: number,
  allowed: (machineId: number) => boolean,
  why: string,
): boolean {
  const claim = model.claimsOn(from).find((c) => c.jobId === jobId && model.movable(c));
  if (!claim) return false;
  const target = model
    .upMachines()
    .filter((m) => allowed(m.id) && model.canHost(claim, m.id))
    .sort((a, b) => model.utilisation(a.id) - model.utilisation(b.id) || a.id - b.id)[0];
  if (!target) return false;
  model.move(claim, target.id, "RemoveDuplicates", why);
  return true;
}
