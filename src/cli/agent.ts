import { Command, InvalidArgumentError } from "commander";
import { env } from "../config.ts";
import { logFor } from "../log.ts";

const log = logFor("agent");

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
  bootstrap?: boolean;
}

/**
 * With the admin token: creates the cell if it does not exist and issues its agent token (which
 * replaces the previous one). What docker-compose's simulated cell needs to start with no setup.
 */
async function bootstrapCell(url: string, cell: string): Promise<string> {
  const admin = process.env.OMEGA_ADMIN_TOKEN;
  if (!admin) throw new Error("--bootstrap needs the admin token in OMEGA_ADMIN_TOKEN");
  const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      const created = await fetch(`${url}/v1/cells`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: cell }),
      });
      if (created.status !== 201 && created.status !== 409)
        throw new Error(`creating cell ${cell}: ${created.status}`);
      const issued = await fetch(`${url}/v1/cells/${cell}/agent-token`, { method: "POST", headers });
      if (!issued.ok) throw new Error(`issuing the agent token of ${cell}: ${issued.status}`);
      return ((await issued.json()) as { token: string }).token;
    } catch (error) {
      // The API may still be starting (compose starts everything at once): wait for it.
      if (!(error instanceof TypeError)) throw error;
      log.warn({ retryInMs: delay }, "the API is unreachable; waiting for it");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
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
    .option(
      "--bootstrap",
      "create the cell if needed and issue its agent token, with the admin token ($OMEGA_ADMIN_TOKEN)",
    )
    .action(async (options: AgentOptions) => {
      const { startSimulator } = await import("../agent/simulator.ts");
      const url = options.url ?? process.env.OMEGA_API_URL ?? `http://localhost:${env.port}`;
      const token =
        options.token ??
        process.env.OMEGA_AGENT_TOKEN ??
        (options.bootstrap ? await bootstrapCell(url, options.cell) : undefined);
      if (!token) throw new Error("an agent token is required: --token or OMEGA_AGENT_TOKEN");
      const simulator = await startSimulator(
        {
          url,
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
