import { type Command, Option } from "commander";
import { type Client, type ClientOptions, clientFrom } from "./http.ts";

/** --addr, --token and --json, on every client command. */
export function clientOptions(command: Command): Command {
  return command
    .addOption(new Option("--addr <url>", "the omega API (Default: $OMEGA_ADDR or http://localhost:8080)"))
    .addOption(new Option("--token <token>", "bearer token (Default: $OMEGA_TOKEN)"))
    .addOption(new Option("--json", "print the API's JSON instead of a table (for scripts)"));
}

/** The client and output mode of the command being run (its options, merged with its parents'). */
export function contextOf(command: Command): { client: Client; json: boolean } {
  const options = command.optsWithGlobals() as ClientOptions;
  return { client: clientFrom(options), json: options.json === true };
}
