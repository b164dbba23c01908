import { readFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { parse } from "yaml";

interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

it("the Dockerfile is multi-stage, installs from the lock file and runs as a non-root user", async () => {
  const dockerfile = await readFile("Dockerfile", "utf8");
  expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
  expect(dockerfile).toMatch(/^RUN npm ci /m);
  expect(dockerfile).toMatch(/^USER node$/m);
  expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/omega.js"\]$/m);
});

it("docker-compose runs every omega service from that image, never from the host checkout; the API is health-checked on /readyz; a simulated cell shows work", async () => {
  const compose = parse(await readFile("docker-compose.yml", "utf8"), { merge: true }) as {
    services: Record<string, Service>;
  };
  const omega = Object.entries(compose.services).filter(([name]) => name !== "postgres");
  expect(omega.map(([name]) => name).sort()).toEqual([
    "agents",
    "api",
    "migrate",
    "scheduler-batch",
    "scheduler-service",
  ]);
  for (const [, service] of omega) {
    expect(service.image).toBe("omega-scheduler:local");
    expect(service.volumes ?? []).toEqual([]);
    expect(service.command?.join(" ")).not.toContain("npm");
  }
  expect(compose.services.migrate?.build).toBe(".");
  expect(compose.services.api?.healthcheck?.test.join(" ")).toContain("/readyz");
  expect(compose.services.agents?.depends_on?.api?.condition).toBe("service_healthy");
  expect(compose.services.agents?.command).toEqual(
    expect.arrayContaining(["agent", "--simulate", "--bootstrap"]),
  );
});

it("the lock file matches package.json (what npm ci checks), with every platform's optional packages", async () => {
  const pkg = JSON.parse(await readFile("package.json", "utf8"));
  const lock = JSON.parse(await readFile("package-lock.json", "utf8"));
  expect(lock.lockfileVersion).toBe(3);
  expect(lock.packages[""].dependencies).toEqual(pkg.dependencies);
  expect(lock.packages[""].devDependencies).toEqual(pkg.devDependencies);
  // npm 11's ci refuses a lock that lacks optional packages of other platforms (Biome's, here).
  for (const name of Object.keys(lock.packages["node_modules/@biomejs/biome"].optionalDependencies)) {
    expect(lock.packages).toHaveProperty(`node_modules/${name}`);
  }
});
