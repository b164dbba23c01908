import { Command, InvalidArgumentError } from "commander";
import { env } from "../config.ts";
import { log } from "../log.ts";
import { duration, positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";

interface AgentOptions {
  simulate: number;
  cell: string;
  url: string;
  token?: string;
  prefix?: string;
  failRate: number;
  heartbeat: number;
  poll: number;
  cpu: string;
  memory: string;
}

function rate(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError("expected a number from 0 to 1");
  return n;
}

export function agentCommand(): Command {
  return new Command("agent")
    .description(
      "simulated machine agents: heartbeat, run claimed tasks for their job's runtime, report them (needs the cell's agent token)",
    )
    .requiredOption("--simulate <n>", "how many machines to simulate in this process", positiveInt)
    .requiredOption("--cell <cell>", "the cell the machines belong to")
    .option("--url <url>", "the API (Default: $OMEGA_API_URL or http://localhost:$PORT)")
    .option("--token <token>", "the cell's agent token (Default: $OMEGA_AGENT_TOKEN)")
    .option("--prefix <prefix>", "machine names: <prefix>-01 … (Default: the cell's name)")
    .option("--fail-rate <rate>", "share of tasks that fail with 'exit 1' (Default: 0)", rate, 0)
    .option("--heartbeat <duration>", "heartbeat interval (Default: 2s)", duration, 2_000)
    .option("--poll <duration>", "claims poll interval (Default: 1s)", duration, 1_000)
    .option("--cpu <quantity>", "cpu of a machine it registers (Default: 8)", "8")
    .option("--memory <quantity>", "memory of a machine it registers (Default: 32Gi)", "32Gi")
    .action(async (options: AgentOptions) => {
      const { startSimulator } = await import("../agent/simulator.ts");
      const token = options.token ?? process.env.OMEGA_AGENT_TOKEN;
      if (!token) throw new Error("an agent token is required: --token or OMEGA_AGENT_TOKEN");
      const simulator = await startSimulator(
        {
          url: options.url ?? process.env.OMEGA_API_URL ?? `http://localhost:${env.port}`,
          token,
          cell: options.cell,
          machines: options.simulate,
          prefix: options.prefix,
          failRate: options.failRate,
          heartbeatMs: options.heartbeat,
          pollMs: options.poll,
          shape: { resources: { cpu: options.cpu, memory: options.memory } },
        },
        log,
      );
      onShutdown(log, () => simulator.stop());
    });
}
