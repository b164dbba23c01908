import type { Filter } from "../types.ts";
import { PASS, reject } from "./result.ts";

/**
 * A machine holds at most `maxTasks` claims of all jobs together, whatever they request (Kubernetes'
 * max pods per node, default 110): tiny tasks cannot pile up by the thousand on one machine and
 * drown its agent. The database enforces it too (CHECK tasks <= max_tasks on every machine row).
 */
export const machineTasks: Filter = (machine, _job, inflight) =>
  machine.tasks + inflight.tasksOn(machine.id) < machine.maxTasks ? PASS : reject("machine task cap reached");
