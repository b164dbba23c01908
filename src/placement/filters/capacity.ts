import type { Dimension, Resources } from "../../domain/resources.ts";
import type { Filter, RejectionReason } from "../types.ts";
import { PASS, reject } from "./result.ts";

const REASON: Record<Dimension, RejectionReason> = {
  cpu: "insufficient cpu",
  memory: "insufficient memory",
  gpu: "insufficient gpu",
  disk: "insufficient disk",
};

/**
 * The first dimension (in DIMENSIONS order) in which `request` does not fit into what is left of
 * `capacity` after `used` and `inflight`, or null when it fits in all of them (an exact fit fits).
 */
export function shortDimension(
  capacity: Resources,
  used: Resources,
  inflight: Readonly<Resources>,
  request: Resources,
): Dimension | null {
  // Unrolled: a keyed loop over DIMENSIONS made this filter a third of a service plan's time.
  if (capacity.cpu - used.cpu - inflight.cpu < request.cpu) return "cpu";
  if (capacity.memory - used.memory - inflight.memory < request.memory) return "memory";
  if (capacity.gpu - used.gpu - inflight.gpu < request.gpu) return "gpu";
  if (capacity.disk - used.disk - inflight.disk < request.disk) return "disk";
  return null;
}

/** The task's request must fit into the machine's free resources, the plan so far included. */
export const capacity: Filter = (machine, job, inflight) => {
  const short = shortDimension(machine.capacity, machine.used, inflight.used(machine.id), job.request);
  return short === null ? PASS : reject(REASON[short]);
};
