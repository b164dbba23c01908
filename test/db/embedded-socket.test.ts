import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { startEmbedded } from "../../src/db/embedded.ts";
import { createPool } from "../../src/db/pool.ts";

it("an embedded server answers on its Unix socket, in its data directory, through the pool's connection strings", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-socket-"));
  const server = await startEmbedded(dir, { quiet: true });
  try {
    expect(server.localUrl).toContain(encodeURIComponent(path.join(dir, "pg")));
    // As given, and through the pool's own parser (which a session attribute sends it through).
    for (const url of [server.localUrl as string, `${server.localUrl}?target_session_attrs=read-write`]) {
      const pool = createPool(url, { max: 1, name: "omega-socket-test" });
      try {
        // A Unix-socket session has no client or server address.
        const { rows } = await pool.query<{ tcp: boolean }>(
          "select inet_client_addr() is not null or inet_server_addr() is not null as tcp",
        );
        expect(rows).toEqual([{ tcp: false }]);
      } finally {
        await pool.end();
      }
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
