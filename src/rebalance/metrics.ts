import type { CellModel } from "./cell-model.ts";
import { tasksNeeded } from "./strategies/defragment.ts";
import type { CellMetrics, PendingJob } from "./types.ts";

/** How good the model's placement is (see CellMetrics). Pure; reads the model as it stands. */
export function cellMetrics(model: CellModel): CellMetrics {
  const up = model.upMachines().filter((m) => m.capacity.cpu > 0 || m.capacity.memory > 0);
  const u = up.map((m) => model.utilisation(m.id));
  const mean = u.length ? u.reduce((a, b) => a + b, 0) / u.length : 0;
  const variance = u.length ? u.reduce((a, b) => a + (b - mean) ** 2, 0) / u.length : 0;
  return {
    utilisationSpread: u.length ? round(Math.max(...u) - Math.min(...u)) : 0,
    utilisationStddev: round(Math.sqrt(variance)),
    emptyMachines: up.filter((m) => model.claimsOn(m.id).length === 0 && m.tasks === 0).length,
    spreadExcess: spreadExcess(model),
    strandedGpus: strandedGpus(model),
    largestPendingFits: largestPendingFits(model),
  };
}

function spreadExcess(model: CellModel): number {
  let excess = 0;
  for (const job of model.state.jobs.values()) {
    const max = job.constraints.maxPerMachine;
    if (max !== null) for (const n of model.tasksOf(job.id).values()) excess += Math.max(0, n - max);
    const spread = model.spreadCounts(job);
    if (spread) for (const n of spread.counts.values()) excess += Math.max(0, n - spread.share);
  }
  return excess;
}

/** GPUs free on up machines where no pending GPU task fits (Defragment's target). */
function strandedGpus(model: CellModel): number {
  const gpuJobs = model.state.pending.filter((j) => j.request.gpu > 0);
  let stranded = 0;
  for (const m of model.upMachines()) {
    const free = m.capacity.gpu - m.used.gpu;
    if (free > 0 && !gpuJobs.some((j) => model.fits(j, m))) stranded += free;
  }
  return stranded;
}

/** Whether the largest pending gang or GPU job has room now (counting room held for it). */
function largestPendingFits(model: CellModel): boolean {
  const candidates = model.state.pending.filter((j) => j.gangMin !== null || j.request.gpu > 0);
  const largest = candidates.sort((a, b) => weight(b) - weight(a) || a.id - b.id)[0];
  if (!largest) return true;
  const need = tasksNeeded(model, largest);
  let room = 0;
  const undo: (() => void)[] = [];
  for (const m of model.upMachines()) {
    while (room < need && model.fits(largest, model.machines.get(m.id) ?? m)) {
      undo.push(model.reserve(largest, m.id));
      room++;
    }
  }
  for (const u of undo.reverse()) u();
  return room >= need;
}

function weight(j: PendingJob): number {
  return j.pending * (j.request.gpu * 1e9 + j.request.cpu * 1e3 + j.request.memory);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
