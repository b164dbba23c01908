import { Command, InvalidArgumentError } from "commander";
import { env } from "../config.ts";
import { log } from "../log.ts";

interface MoveOptions {
  cell: string;
  to: number;
  partition?: string[];
  router?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function partitionIndex(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a partition number (0, 1, …)");
  return n;
}

export function moveCellCommand(): Command {
  return new Command("move-cell")
    .description("move a cell to another partition with nothing lost (see the README: Cells across servers)")
    .requiredOption("--cell <cell>", "the cell to move")
    .requiredOption(
      "--to <n>",
      "the partition to move it to (0-based, as given to omega migrate)",
      partitionIndex,
    )
    .option(
      "--partition <url>",
      "a partition's database, in order (repeat it; Default: $OMEGA_PARTITIONS)",
      collect,
    )
    .option("--router <url>", "the PL/Proxy router database (Default: $OMEGA_ROUTER_URL)")
    .action(async (options: MoveOptions) => {
      const { moveCell } = await import("../router/move-cell.ts");
      const partitions = options.partition ?? env.partitions;
      const routerUrl = options.router ?? env.routerUrl;
      if (!partitions || !routerUrl) throw new Error("the partitions and the router are required");
      if (options.to >= partitions.length) throw new Error(`there is no partition ${options.to}`);
      const moved = await moveCell({ cell: options.cell, partitions, routerUrl, to: options.to });
      log.info({ cell: options.cell, ...moved }, "cell moved");
    });
}
