import { DIMENSIONS, type Resources } from "../../domain/resources.ts";
import type { MachineView } from "../../placement/types.ts";
import type { CellModel } from "../cell-model.ts";
import type { ClaimView, PendingJob } from "../types.ts";

/**
 * Defragment: makes room for the largest pending gang or GPU job that does not fit now, by moving
 * smaller work of its priority or lower off the machines closest to holding one of its tasks. A
 * gang gets room for all the tasks it still needs or no move at all (half the room places nothing);
 * a GPU job without a gang gets room for as many of its tasks as the budget allows. The room made
 * is reserved in the model for the rest of the period, so no other strategy fills it again; the
 * placing scheduler (woken by each move's freed capacity) then places the job.
 */
export function defragment(model: CellModel, budget: number): void {
  const candidates = model.state.pending
    .filter((j) => j.gangMin !== null || j.request.gpu > 0)
    .sort((a, b) => size(b, model) - size(a, model) || a.id - b.id);
  for (const job of candidates) {
    if (makeRoom(model, job, budget)) return;
  }
}

/** Tasks the job needs placed at once: the rest of its gang, or (no gang) its pending tasks. */
export function tasksNeeded(model: CellModel, job: PendingJob): number {
  const gangShort = job.gangMin !== null ? job.gangMin - model.placedCount(job.id) : 0;
  return (gangShort > 0 ? gangShort : job.pending) - model.reservedFor(job.id);
}

function size(job: PendingJob, model: CellModel): number {
  const n = tasksNeeded(model, job);
  return n * (job.request.gpu * 1e9 + job.request.cpu * 1e3 + job.request.memory);
}

function makeRoom(model: CellModel, job: PendingJob, budget: number): boolean {
  const need = tasksNeeded(model, job);
  const gang = job.gangMin !== null && job.gangMin - model.placedCount(job.id) > 0;
  const keep = model.moves.length;
  const undo: (() => void)[] = [];
  let room = 0;
  for (const m of model.upMachines()) {
    while (room < need && model.fits(job, model.machines.get(m.id) as MachineView)) {
      undo.push(model.reserve(job, m.id));
      room++;
    }
  }
  const already = room;
  if (room < need) {
    const candidates = model
      .upMachines()
      .filter((m) => couldHold(m, job.request))
      .sort((a, b) => movesToFree(model, a, job) - movesToFree(model, b, job) || a.id - b.id);
    for (const m of candidates) {
      while (room < need) {
        const before = model.moves.length;
        if (!freeOne(model, job, m.id, budget - (before - keep))) {
          model.rollback(before);
          break;
        }
        undo.push(model.reserve(job, m.id));
        room++;
      }
      if (room >= need) break;
    }
  }
  const success = room > already && (!gang || room >= need);
  if (!success) {
    model.rollback(keep);
    for (const u of undo.reverse()) u();
  }
  return success;
}

/** Whether the machine could hold one task of the request were it empty. */
function couldHold(m: MachineView, request: Resources): boolean {
  return DIMENSIONS.every((d) => m.capacity[d] >= request[d]);
}

/** A rough count of the claims to move before one task fits: those on the machine, fewer first. */
function movesToFree(model: CellModel, m: MachineView, job: PendingJob): number {
  return model.fits(job, m) ? 0 : model.claimsOn(m.id).length;
}

/** Moves claims off the machine until one task of the job fits there; false if it cannot. */
function freeOne(model: CellModel, job: PendingJob, machineId: number, budget: number): boolean {
  let left = budget;
  const fitsNow = () => model.fits(job, model.machines.get(machineId) as MachineView);
  if (fitsNow()) return true;
  const max = job.constraints.maxPerMachine;
  if (max !== null && (model.tasksOf(job.id).get(machineId) ?? 0) >= max) return false;
  const claims = model
    .claimsOn(machineId)
    .filter((c) => c.jobId !== job.id && model.movable(c, job.priority))
    .map((c) => ({ c, help: helps(model, c, job, machineId) }))
    .filter((x) => x.help > 0)
    .sort((a, b) => b.help - a.help || a.c.taskId - b.c.taskId);
  for (const { c } of claims) {
    if (left <= 0) return false;
    const dest = destination(model, c, machineId, job.request);
    if (dest === undefined) continue;
    model.move(c, dest, "Defragment", `making room for job ${job.id}`, job.id);
    left--;
    if (fitsNow()) return true;
  }
  return false;
}

/** How much moving the claim helps the job's task fit on the machine (0: not at all). */
function helps(model: CellModel, claim: ClaimView, job: PendingJob, machineId: number): number {
  const m = model.machines.get(machineId) as MachineView;
  const request = model.job(claim.jobId)?.request;
  if (!request) return 0;
  let help = m.tasks >= m.maxTasks ? 1 : 0;
  for (const d of DIMENSIONS) {
    const short = job.request[d] - (m.capacity[d] - m.used[d]);
    if (short > 0) help += Math.min(request[d], short) / short;
  }
  return help;
}

/**
 * Where a claim moved out of the way goes: a machine that could never hold the job's task if there
 * is one (a hole there is no use to the job), then the fullest (packing keeps other holes whole).
 */
function destination(
  model: CellModel,
  claim: ClaimView,
  from: number,
  request: Resources,
): number | undefined {
  let best: { id: number; key: number } | undefined;
  for (const m of model.upMachines()) {
    if (m.id === from || !model.canHost(claim, m.id)) continue;
    const key = (couldHold(m, request) ? 0 : 2) + model.utilisation(m.id);
    if (!best || key > best.key) best = { id: m.id, key };
  }
  return best?.id;
}
