import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { serveCommand } from "../../src/cli/serve.ts";
import { startCommand } from "../../src/cli/start.ts";

/** Secure by default (issue 17, L6): nothing listens beyond loopback or logs in with a known password. */
describe("secure defaults", () => {
  it("serve and start listen on loopback unless told otherwise", () => {
    for (const command of [serveCommand(), startCommand()]) {
      const host = command.options.find((o) => o.long === "--host");
      expect(host?.defaultValue, command.name()).toBe("127.0.0.1");
    }
  });

  it("docker compose publishes PostgreSQL on loopback and has no default password", async () => {
    const compose = await readFile("docker-compose.yml", "utf8");
    const ports = [...compose.matchAll(/ports: \[([^\]]*)\]/g)].map((m) => m[1]);
    expect(ports.length).toBeGreaterThan(0);
    for (const p of ports) expect(p).toMatch(/^"127\.0\.0\.1:/);
    // ${VAR:-default} would be a password anyone can read here; ${VAR:?message} insists on one.
    expect(compose).not.toMatch(/PASSWORD[^\n]*:-/);
    expect(compose).not.toMatch(/POSTGRES_PASSWORD: [a-z]/);
  });

  it("the embedded PostgreSQL's password is generated, not written in the code", async () => {
    const source = await readFile("src/db/embedded.ts", "utf8");
    expect(source).toMatch(/randomBytes\(/);
    expect(source).not.toMatch(/password: "/);
  });
});
