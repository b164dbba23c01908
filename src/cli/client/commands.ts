import type { Command } from "commander";
import { jobCommand } from "./job.ts";
import { machineCommand } from "./machine.ts";
import { quotaCommand, tenantCommand } from "./tenant.ts";
import { topCommand } from "./top.ts";

/** The client CLI over the HTTP API (OMEGA_ADDR, OMEGA_TOKEN), beside the server commands. */
export function clientCommands(): Command[] {
  return [jobCommand(), machineCommand(), tenantCommand(), quotaCommand(), topCommand()];
}
