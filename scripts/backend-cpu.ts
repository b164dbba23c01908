import { readFileSync } from "node:fs";

/** User + system CPU time of a process (a PostgreSQL backend), in ms (clock ticks of 10 ms). */
export function backendCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
