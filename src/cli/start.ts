import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { env } from "../config.ts";
import { startEmbedded } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { newAdminToken } from "../domain/tokens.ts";
import { DEFAULT_DATA_DIR } from "../instance/local.ts";
import { lockInstance } from "../instance/lock.ts";
import { storedToken } from "../instance/stored-token.ts";
import { logFor } from "../log.ts";
import { API_CONNECTIONS } from "./api-connections.ts";
import { positiveInt } from "./args.ts";
import { banner } from "./banner.ts";
import { createDemo, startDemoAgents } from "./demo.ts";
import { onShutdown } from "./shutdown.ts";
import { spawnWorker } from "./worker-process.ts";

/** What has been started so far, stopped in reverse order (a stop may come halfway through start-up). */
class Stack {
  private readonly stops: (() => Promise<unknown>)[] = [];
  push(stop: () => Promise<unknown>): void {
    this.stops.push(stop);
  }
  async unwind(): Promise<void> {
    for (const stop of this.stops.reverse()) await stop().catch(() => {});
    this.stops.length = 0;
  }
}

export function startCommand(): Command {
  return (
    new Command("start")
      .description(
        "the whole system on one machine: database (embedded unless DATABASE_URL), API and console, batch and service workers, demo cell",
      )
      .option("--port <port>", "API port (Default: $PORT or 8080)", positiveInt, env.port)
      .option(
        "--data <dir>",
        "where the embedded PostgreSQL, the tokens and the banner are kept (Default: ./.omega)",
        DEFAULT_DATA_DIR,
      )
      .option("--no-demo", "do not create the demo cell, its simulated agents and the demo tenant")
      // Loopback unless told otherwise: exposing the API (and its printed admin token's reach) is a decision.
      .option(
        "--host <host>",
        "address the API listens on; 0.0.0.0 for every interface (Default: 127.0.0.1)",
        "127.0.0.1",
      )
      .action(async (options: { port: number; data: string; demo: boolean; host: string }) => {
        const log = logFor("start");
        // Refuses at once if a live `omega start` owns this data: before touching its database.
        const lock = await lockInstance(options.data);
        const started = new Stack();
        started.push(() => lock.release());
        let stopping = false;
        onShutdown(log, async () => {
          stopping = true;
          await started.unwind();
        });
        const step = async <T>(work: () => Promise<T>): Promise<T> => {
          const value = await work();
          if (stopping) await new Promise(() => {}); // the shutdown handler exits the process
          return value;
        };
        try {
          // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
          const { startServer } = await import("../api/server.ts");
          const embedded = env.databaseUrl ? undefined : await step(() => startEmbedded(options.data));
          if (embedded) started.push(() => embedded.stop());
          const databaseUrl = env.databaseUrl ?? (embedded?.url as string);
          const pool = createPool(databaseUrl, { max: API_CONNECTIONS, name: "omega-api" });
          started.push(() => pool.end());
          await step(() => migrate(pool));
          // As `omega serve` does: the pool's connections open, each warmed on the hot path.
          const { openWarmConnections, warmSubmission } = await import("../db/warm-up.ts");
          await step(() => openWarmConnections(pool, API_CONNECTIONS, warmSubmission, log));
          const adminToken =
            env.adminToken ?? (await storedToken(options.data, "admin-token", newAdminToken));
          const server = await step(() =>
            startServer({ pool, adminToken, port: options.port, host: options.host, logger: logFor("api") }),
          );
          started.push(() => server.close());
          const url = server.url.replace("127.0.0.1", "localhost");
          await lock.update({ url });
          // OMEGA_PARENT_PID: the workers stop when this process is gone, even if it was killed.
          const workers = ["batch", "service"].map((scheduler) =>
            spawnWorker(databaseUrl, scheduler, { env: { OMEGA_PARENT_PID: String(process.pid) } }),
          );
          started.push(() => Promise.all(workers.map((w) => w.stop())));
          const demo = options.demo ? await step(() => createDemo(pool, options.data)) : undefined;
          const agents = demo
            ? await step(() => startDemoAgents(server.url, demo, logFor("agent")))
            : undefined;
          if (agents) started.push(() => agents.stop());
          await step(() => Promise.all(workers.map((w) => w.ready)));

          // Last, so that it is what the terminal shows once start-up has settled; kept in a file too.
          const text = banner({
            url,
            database: embedded
              ? `embedded PostgreSQL (data in ${path.resolve(options.data)})`
              : "DATABASE_URL",
            databaseUrl,
            adminToken,
            demo,
          });
          await mkdir(options.data, { recursive: true });
          await writeFile(path.join(options.data, "banner.txt"), text, { mode: 0o600 });
          process.stdout.write(`\n${text}\n`);
        } catch (error) {
          // Bounded as a signalled stop is: a half-started instance must not hang on its way out.
          await Promise.race([started.unwind(), new Promise((r) => setTimeout(r, 15_000).unref())]);
          throw error;
        }
      })
  );
}
