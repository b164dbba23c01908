import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { env } from "../config.ts";
import { startEmbedded } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { newAdminToken } from "../domain/tokens.ts";
import { log } from "../log.ts";
import { positiveInt } from "./args.ts";
import { createDemo, startDemoAgents } from "./demo.ts";
import { onShutdown } from "./shutdown.ts";
import { spawnWorker } from "./worker-process.ts";

export function startCommand(): Command {
  return (
    new Command("start")
      .description(
        "the whole system on one machine: database (embedded unless DATABASE_URL), API, batch and service workers, demo cell",
      )
      .option("--port <port>", "API port (Default: $PORT or 8080)", positiveInt, env.port)
      .option("--data <dir>", "where the embedded PostgreSQL keeps its data (Default: ./.omega)", ".omega")
      .option("--no-demo", "do not create the demo cell, its simulated agents and the demo tenant")
      // Loopback unless told otherwise: exposing the API (and its printed admin token's reach) is a decision.
      .option(
        "--host <host>",
        "address the API listens on; 0.0.0.0 for every interface (Default: 127.0.0.1)",
        "127.0.0.1",
      )
      .action(async (options: { port: number; data: string; demo: boolean; host: string }) => {
        // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
        const { startServer } = await import("../api/server.ts");
        const embedded = env.databaseUrl ? undefined : await startEmbedded(options.data);
        const databaseUrl = env.databaseUrl ?? (embedded?.url as string);
        const pool = createPool(databaseUrl, { max: 20, name: "omega-api" });
        await migrate(pool);
        const adminToken = env.adminToken ?? (await storedAdminToken(options.data));
        const server = await startServer({
          pool,
          adminToken,
          port: options.port,
          host: options.host,
          logger: log,
        });
        // OMEGA_PARENT_PID: the workers stop when this process is gone, even if it was killed.
        const workers = ["batch", "service"].map((scheduler) =>
          spawnWorker(databaseUrl, scheduler, { env: { OMEGA_PARENT_PID: String(process.pid) } }),
        );
        const demo = options.demo ? await createDemo(pool) : undefined;
        const agents = demo ? await startDemoAgents(server.url, demo, log) : undefined;

        onShutdown(log, async () => {
          await agents?.stop();
          await server.close();
          await Promise.all(workers.map((w) => w.stop()));
          await pool.end();
          await embedded?.stop();
        });

        const url = server.url.replace("0.0.0.0", "localhost");
        const lines = [
          "",
          `omega-scheduler is running at ${url}`,
          `  database:     ${embedded ? `embedded PostgreSQL (data in ${path.resolve(options.data)})` : "DATABASE_URL"}`,
          `  psql:         psql '${databaseUrl}'`,
          `  admin token:  ${adminToken}`,
        ];
        if (demo) {
          lines.push(
            `  demo tenant:  ${demo.tenant} (token ${demo.token})`,
            "",
            "Submit a job to the demo cell:",
            `  curl -s -X POST ${url}/v1/jobs -H 'Authorization: Bearer ${demo.token}' \\`,
            `    -H 'Content-Type: application/json' \\`,
            `    -d '{"cell":"${demo.cell}","tasks":3,"resources":{"cpu":"500m","memory":"1Gi"},"runtime":"30s"}'`,
            `  curl -s ${url}/v1/jobs/1 -H 'Authorization: Bearer ${demo.token}'`,
            `  curl -s ${url}/v1/jobs/1/events -H 'Authorization: Bearer ${demo.token}'`,
          );
        }
        process.stdout.write(`${lines.join("\n")}\n\n`);
      })
  );
}

/** Keeps the generated admin token across restarts of the same data directory. */
async function storedAdminToken(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "admin-token");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const token = newAdminToken();
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}
