import { Command } from "commander";
import { log } from "../log.ts";
import { agentCommand } from "./agent.ts";
import { benchCommand } from "./bench.ts";
import { migrateCommand } from "./migrate.ts";
import { moveCellCommand } from "./move-cell.ts";
import { serveCommand } from "./serve.ts";
import { startCommand } from "./start.ts";
import { workerCommand } from "./worker.ts";

const program = new Command("omega")
  .description("An Omega-style shared-state cluster scheduler whose whole state lives in PostgreSQL")
  .showHelpAfterError();
program.addCommand(startCommand());
program.addCommand(migrateCommand());
program.addCommand(serveCommand());
program.addCommand(workerCommand());
program.addCommand(benchCommand());
program.addCommand(agentCommand());
program.addCommand(moveCellCommand());

try {
  await program.parseAsync();
} catch (error) {
  log.error({ err: error }, (error as Error).message);
  process.exitCode = 1;
}
