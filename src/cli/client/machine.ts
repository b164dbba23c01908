import { Command } from "commander";
import { clientOptions, contextOf } from "./options.ts";
import { cpu, memory, percent, printJson, table } from "./table.ts";

export interface MachineView {
  name: string;
  state: string;
  capacity: { cpu: number; memory: number; gpu: number };
  used: { cpu: number; memory: number; gpu: number };
  tasks: number;
  labels: Record<string, string>;
}

export function machineCommand(): Command {
  const machine = new Command("machine").description("a cell's machines: list, drain");

  clientOptions(machine.command("list"))
    .description("the machines of CELL with capacity, usage and state")
    .argument("<cell>")
    .action(async (cell: string, _options, command: Command) => {
      const { client, json } = contextOf(command);
      const page = await client.get<{ machines: MachineView[] }>(
        `/v1/cells/${encodeURIComponent(cell)}/machines`,
      );
      if (json) {
        printJson(page);
        return;
      }
      process.stdout.write(
        table(
          ["NAME", "STATE", "CPU", "MEMORY", "GPU", "TASKS", "LABELS"],
          page.machines.map((m) => [
            m.name,
            m.state,
            `${cpu(m.used.cpu)}/${cpu(m.capacity.cpu)} (${percent(m.used.cpu, m.capacity.cpu)})`,
            `${memory(m.used.memory)}/${memory(m.capacity.memory)} (${percent(m.used.memory, m.capacity.memory)})`,
            `${m.used.gpu}/${m.capacity.gpu}`,
            m.tasks,
            Object.entries(m.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(",") || "-",
          ]),
        ),
      );
    });

  clientOptions(machine.command("drain"))
    .description("stop new placements on machine NAME of CELL (admin)")
    .argument("<cell>")
    .argument("<name>")
    .action(async (cell: string, name: string, _options, command: Command) => {
      const { client, json } = contextOf(command);
      const result = await client.send<MachineView>(
        "POST",
        `/v1/cells/${encodeURIComponent(cell)}/machines/${encodeURIComponent(name)}/drain`,
      );
      if (json) printJson(result);
      else process.stdout.write(`Machine ${name} of cell ${cell} is ${result.state}\n`);
    });
  return machine;
}
