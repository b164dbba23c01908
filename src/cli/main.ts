import { createRequire } from "node:module";
import { Command } from "commander";
import { log } from "../log.ts";
import { agentCommand } from "./agent.ts";
import { benchCommand } from "./bench.ts";
import { clientCommands } from "./client/commands.ts";
import { explain } from "./errors.ts";
import { migrateCommand } from "./migrate.ts";
import { moveCellCommand } from "./move-cell.ts";
import { serveCommand } from "./serve.ts";
import { startCommand } from "./start.ts";
import { workerCommand } from "./worker.ts";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const program = new Command("omega")
  .description("An Omega-style shared-state cluster scheduler whose whole state lives in PostgreSQL")
  .version(version, "-v, --version", "print the version")
  .showHelpAfterError();
for (const command of [
  startCommand(),
  migrateCommand(),
  serveCommand(),
  workerCommand(),
  agentCommand(),
  moveCellCommand(),
]) {
  program.addCommand(command.helpGroup("Run it:"));
}
for (const command of clientCommands()) {
  program.addCommand(command.helpGroup("Use it (over the HTTP API at $OMEGA_ADDR, with $OMEGA_TOKEN):"));
}
program.addCommand(benchCommand().helpGroup("Measure it:"));

try {
  await program.parseAsync();
} catch (error) {
  // People get one plain line; the stack trace is for LOG_LEVEL=debug.
  log.debug({ err: error }, "command failed");
  process.stderr.write(`omega: ${explain(error)}\n`);
  process.exit(1);
}
