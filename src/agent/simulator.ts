import type { MachineBodyInput } from "../domain/job-spec.ts";
import type { Logger } from "../log.ts";
import { AgentRefusal, agentClient } from "./agent-client.ts";
import { SimulatedMachine, type SimulationOptions } from "./simulated-machine.ts";

export interface SimulatorOptions extends SimulationOptions {
  url: string;
  token: string;
  cell: string;
  machines: number;
  /** Machines are named <prefix>-01 … <prefix>-NN. (Default: the cell's name.) */
  prefix?: string;
  /** What a machine that does not exist yet registers with. */
  shape: MachineBodyInput;
}

export interface Simulator {
  machines: SimulatedMachine[];
  stop(): Promise<void>;
}

const ZONES = ["a", "b", "c"];

/** The machine names a simulation of `count` machines uses: demo-01 … demo-12. */
export function simulatedNames(prefix: string, count: number): string[] {
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(width, "0")}`);
}

/**
 * N simulated machines in one process, each an agent of its own. A machine that does not exist yet
 * is registered (the agent token may, as a kubelet registers its node) with `shape` and a zone
 * label; one that exists keeps its capacity, labels and taints.
 */
export async function startSimulator(options: SimulatorOptions, logger: Logger): Promise<Simulator> {
  const client = agentClient(options);
  const names = simulatedNames(options.prefix ?? options.cell, options.machines);
  const machines: SimulatedMachine[] = [];
  for (const [i, name] of names.entries()) {
    await ensureRegistered(name, () =>
      client.register(name, {
        ...options.shape,
        labels: { zone: ZONES[i % ZONES.length] ?? "a", ...options.shape.labels },
      }),
    );
    const machine = new SimulatedMachine(name, client, options, logger.child({ machine: name }));
    machines.push(machine);
    machine.start();
  }
  logger.info({ cell: options.cell, machines: names.length }, "simulated agents running");
  return {
    machines,
    async stop() {
      await Promise.all(machines.map((m) => m.stop()));
    },
  };

  /** Heartbeats until the API answers; registers the machine if it is not known (once). */
  async function ensureRegistered(name: string, register: () => Promise<void>): Promise<void> {
    let registered = false;
    for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        await client.heartbeat(name, []);
        return;
      } catch (error) {
        if (error instanceof AgentRefusal && (error.status !== 404 || registered)) throw error;
        if (!(error instanceof AgentRefusal)) {
          logger.warn({ err: error, retryInMs: delay }, "the API is unreachable; waiting for it");
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
      }
      await register();
      registered = true;
    }
  }
}
