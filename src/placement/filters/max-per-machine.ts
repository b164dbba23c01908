import type { Filter, InFlightView, JobView } from "../types.ts";
import { PASS, reject } from "./result.ts";

/** Tasks of the job on the machine: those holding claims plus those the plan already put there. */
export function jobTasksOn(job: JobView, inflight: InFlightView, machineId: number): number {
  return (job.placedPerMachine.get(machineId) ?? 0) + inflight.count(job.id, machineId);
}

/** A job may cap its tasks per machine (e.g. one replica per host); no cap when null. */
export const maxPerMachine: Filter = (machine, job, inflight) => {
  const max = job.constraints.maxPerMachine;
  if (max === null || jobTasksOn(job, inflight, machine.id) < max) return PASS;
  return reject("max per machine reached");
};
