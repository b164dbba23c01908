import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";

let api: Api;
let dir: string;
beforeAll(async () => {
  api = await startApi();
  dir = await mkdtemp(path.join(tmpdir(), "omega-openapi-"));
});
afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

it("the served OpenAPI document is lint-clean under redocly's recommended rules: operationIds, tags, 2xx and 4xx everywhere", async () => {
  const doc = await api.call("GET", "/openapi.json", { token: null });
  const file = path.join(dir, "openapi.json");
  await writeFile(file, doc.text);
  const { stdout, stderr } = await promisify(execFile)(
    "npx",
    ["redocly", "lint", "--extends", "recommended", "--format", "json", file],
    { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } },
  ).catch((error) => error as { stdout: string; stderr: string });
  const report = JSON.parse(stdout.slice(stdout.indexOf("{"))) as {
    totals: { errors: number; warnings: number };
    problems: { ruleId: string; message: string }[];
  };
  expect(report.problems, stderr).toEqual([]);
  expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
}, 60_000);

it("GET /docs shows every operation, grouped by tag; GET / points a client at everything", async () => {
  const doc = (await api.call("GET", "/openapi.json", { token: null })).body;
  const page = await api.call("GET", "/docs", { token: null });
  expect(page.headers.get("content-type")).toMatch(/^text\/html/);
  for (const methods of Object.values(doc.paths)) {
    for (const op of Object.values(methods as Record<string, { operationId: string }>)) {
      expect(page.text).toContain(`id="${op.operationId}"`);
    }
  }
  for (const tag of doc.tags) expect(page.text).toContain(`id="tag-${tag.name}"`);
  const root = await api.call("GET", "/", { token: null });
  expect(root.body).toMatchObject({ console: "/ui", docs: "/docs" });
  const browser = await fetch(`${api.url}/`, { headers: { accept: "text/html" }, redirect: "manual" });
  expect(browser.status).toBe(302);
  expect(browser.headers.get("location")).toBe("/ui");
});
