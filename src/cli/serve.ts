import { Command } from "commander";
import { env } from "../config.ts";
import { ensureMigrated } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { whenDatabaseAnswers } from "../db/when-database-answers.ts";
import { log } from "../log.ts";
import { positiveInt } from "./args.ts";
import { onShutdown } from "./shutdown.ts";

export function serveCommand(): Command {
  return (
    new Command("serve")
      .description("run the HTTP API only (needs DATABASE_URL and OMEGA_ADMIN_TOKEN)")
      .option("--port <port>", "port to listen on (Default: $PORT or 8080)", positiveInt, env.port)
      // Loopback unless told otherwise: exposing the API is a decision, not a default.
      .option(
        "--host <host>",
        "address to listen on; 0.0.0.0 for every interface (Default: 127.0.0.1)",
        "127.0.0.1",
      )
      .action(async (options: { port: number; host: string }) => {
        // Loaded on use: `omega migrate` should not pay for the HTTP stack or the queue.
        const { startServer } = await import("../api/server.ts");
        if (!env.databaseUrl) throw new Error("DATABASE_URL is required");
        if (!env.adminToken) throw new Error("OMEGA_ADMIN_TOKEN is required");
        const pool = createPool(env.databaseUrl, { max: 20, name: "omega-api" });
        // A process that cannot start must not linger for the pool's idle timeout.
        await whenDatabaseAnswers(log, () => ensureMigrated(pool)).catch(async (error: unknown) => {
          await pool.end();
          throw error;
        });
        const server = await startServer({
          pool,
          adminToken: env.adminToken,
          port: options.port,
          host: options.host,
          logger: log,
        });
        log.info({ url: server.url }, "API listening");
        onShutdown(log, async () => {
          await server.close();
          await pool.end();
        });
      })
  );
}
