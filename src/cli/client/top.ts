import { Command } from "commander";
import { duration } from "../args.ts";
import type { MachineView } from "./machine.ts";
import { clientOptions, contextOf } from "./options.ts";
import { cpu, memory, printJson } from "./table.ts";

interface Cell {
  name: string;
  machines: { total: number; up: number; draining: number; down: number };
  capacity: { cpu: number; memory: number; gpu: number };
  used: { cpu: number; memory: number; gpu: number };
  tasks: number;
}

const BAR = 20;
function bar(used: number, capacity: number): string {
  const share = capacity > 0 ? Math.min(1, used / capacity) : 0;
  const full = Math.round(share * BAR);
  return `[${"#".repeat(full)}${".".repeat(BAR - full)}] ${String(Math.round(share * 100)).padStart(3)}%`;
}

/** One screen: each cell's totals, then each machine's cpu and memory use. */
async function screen(
  client: ReturnType<typeof contextOf>["client"],
  only?: string,
): Promise<{ text: string; data: unknown }> {
  const { cells } = await client.get<{ cells: Cell[] }>("/v1/cells");
  const shown = cells.filter((c) => !only || c.name === only);
  if (only && shown.length === 0) throw new Error(`cell "${only}" does not exist`);
  const lines = [`omega top — ${client.addr} — ${new Date().toLocaleTimeString()}`, ""];
  const data: { cell: Cell; machines: MachineView[] }[] = [];
  for (const cell of shown) {
    const { machines } = await client.get<{ machines: MachineView[] }>(`/v1/cells/${cell.name}/machines`);
    data.push({ cell, machines });
    lines.push(
      `CELL ${cell.name}: ${cell.machines.up}/${cell.machines.total} machines up, ${cell.tasks} tasks`,
      `  cpu    ${bar(cell.used.cpu, cell.capacity.cpu)}  ${cpu(cell.used.cpu)}/${cpu(cell.capacity.cpu)}`,
      `  memory ${bar(cell.used.memory, cell.capacity.memory)}  ${memory(cell.used.memory)}/${memory(cell.capacity.memory)}`,
      `  gpu    ${bar(cell.used.gpu, cell.capacity.gpu)}  ${cell.used.gpu}/${cell.capacity.gpu}`,
      "",
      `  ${"MACHINE".padEnd(16)} ${"STATE".padEnd(9)} ${"CPU".padEnd(27)} ${"MEMORY".padEnd(27)} TASKS`,
    );
    for (const m of machines) {
      lines.push(
        `  ${m.name.padEnd(16)} ${m.state.padEnd(9)} ${bar(m.used.cpu, m.capacity.cpu)} ${bar(m.used.memory, m.capacity.memory)} ${m.tasks}`,
      );
    }
    lines.push("");
  }
  return { text: lines.join("\n"), data };
}

export function topCommand(): Command {
  return clientOptions(new Command("top"))
    .description("live utilisation of cells and their machines in the terminal (q or Ctrl-C to quit)")
    .argument("[cell]", "only this cell")
    .option("--interval <duration>", "refresh interval (Default: 2s)", duration, 2_000)
    .option("--once", "print one screen and exit")
    .action(
      async (cell: string | undefined, options: { interval: number; once?: boolean }, command: Command) => {
        const { client, json } = contextOf(command);
        if (options.once || json || !process.stdout.isTTY) {
          const { text, data } = await screen(client, cell);
          if (json) printJson(data);
          else process.stdout.write(`${text}\n`);
          return;
        }
        const quit = () => {
          process.stdout.write("\x1b[?25h"); // the cursor back
          process.exit(0);
        };
        process.on("SIGINT", quit);
        if (process.stdin.isTTY) {
          process.stdin.setRawMode(true);
          process.stdin.on("data", (key) => {
            if (key.toString() === "q" || key[0] === 3) quit();
          });
        }
        process.stdout.write("\x1b[?25l");
        for (;;) {
          const text = await screen(client, cell).then(
            (s) => s.text,
            (error: Error) => `omega top: ${error.message}`,
          );
          process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
          await new Promise((r) => setTimeout(r, options.interval));
        }
      },
    );
}
