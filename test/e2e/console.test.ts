import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnWorker, type WorkerProcess } from "../../src/cli/worker-process.ts";
import { ADMIN, type Api, startApi } from "../support/api-client.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let api: Api;
let worker: WorkerProcess | undefined;
let browser: BrowserContext;
let profile: string;
let tenant: string;
let beta: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  api = await startApi();
  await api.call("POST", "/v1/cells", { body: { name: "east" } });
  for (let i = 1; i <= 6; i++) {
    await api.call("PUT", `/v1/cells/east/machines/m${i}`, {
      body: {
        resources: { cpu: "8", memory: "32Gi", gpu: i > 4 ? 2 : 0 },
        labels: { zone: "abc"[i % 3] as string },
      },
    });
  }
  tenant = (await api.call("POST", "/v1/tenants", { body: { name: "acme" } })).body.token;
  beta = (await api.call("POST", "/v1/tenants", { body: { name: "beta" } })).body.token;
  profile = await mkdtemp(path.join(tmpdir(), "omega-chromium-"));
  // A fresh profile directory per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 820 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function signIn(page: Page, token: string): Promise<void> {
  // The profile is shared by the pages: sign the last one out (the token is kept in localStorage).
  page.on("pageerror", (error) => console.error("console page error:", error.message));
  await page.goto(`${api.url}/ui`);
  await page.waitForSelector("#login:not([hidden]), #app:not([hidden])");
  if (await page.isVisible("#app")) await page.click("#signout");
  await page.fill("#token", token);
  await page.click("#signin");
  await page.waitForSelector("#app:not([hidden])");
}

const submit = async (body: unknown) =>
  (await api.call("POST", "/v1/jobs", { token: tenant, body })).body.id as number;

it("refuses a wrong token, then signs a tenant in; a job submitted through the API appears and turns placed live", async () => {
  const page = await browser.newPage();
  await page.goto(`${api.url}/ui`);
  await page.fill("#token", "omt_wrong");
  await page.click("#signin");
  await expect.poll(() => page.textContent("#login-error")).toContain("not valid");

  await signIn(page, tenant);
  expect(await page.textContent("#whoami")).toBe("tenant");
  await page.goto(`${api.url}/ui#/jobs`);
  await page.waitForSelector("#live.on");
  // No scheduler runs yet: the job appears (from the event stream, without a reload) as pending.
  const id = await submit({ name: "web", cell: "east", tasks: 4, resources: { cpu: "2", memory: "4Gi" } });
  const state = page.locator(`tr[data-job="${id}"] .state`);
  await expect.poll(() => state.textContent(), { timeout: 10_000 }).toBe("pending");
  worker = spawnWorker(api.db.url, "batch", { stdout: "ignore", env: { LOG_LEVEL: "warn" } });
  await expect.poll(() => state.textContent(), { timeout: 30_000 }).toBe("placed");
  await page.close();
}, 90_000);

it("shows why a job is pending, as counts of machines, and its event timeline", async () => {
  const id = await submit({ name: "too-big", cell: "east", tasks: 2, resources: { cpu: "16" } });
  const page = await browser.newPage();
  await signIn(page, tenant);
  await page.goto(`${api.url}/ui#/jobs/${id}`);
  await expect
    .poll(() => page.textContent("#pending-reasons").catch(() => ""), { timeout: 30_000 })
    .toMatch(/2\s*0\/6 machines fit: 6 insufficient cpu/);
  expect(await page.textContent("#timeline")).toContain("submitted");

  // Another tenant's job is not in this tenant's list, nor its page.
  const theirs = (
    await api.call("POST", "/v1/jobs", {
      token: beta,
      body: { cell: "east", tasks: 1, resources: { cpu: "1" } },
    })
  ).body.id;
  await page.goto(`${api.url}/ui#/jobs`);
  await page.waitForSelector(`tr[data-job="${id}"]`);
  expect(await page.locator(`tr[data-job="${theirs}"]`).count()).toBe(0);
  await page.goto(`${api.url}/ui#/jobs/${theirs}`);
  await expect.poll(() => page.textContent("#view")).toContain(`job ${theirs} does not exist`);
  await page.close();
}, 60_000);

it("the admin sees every tenant's work, cells with a heatmap, schedulers and quotas; screenshot for the README", async () => {
  await api.call("PUT", "/v1/quotas/acme/east/batch", { body: { resources: { cpu: "24", memory: "64Gi" } } });
  const train = await submit({
    name: "train",
    cell: "east",
    tasks: 2,
    resources: { cpu: "4", memory: "16Gi", gpu: 1 },
  });
  const page = await browser.newPage();
  await signIn(page, ADMIN);
  expect(await page.textContent("#whoami")).toBe("admin");
  await page.waitForSelector(".heatmap a");
  expect(await page.locator(".heatmap a").count()).toBe(6);
  await page.goto(`${api.url}/ui#/jobs`);
  await expect.poll(() => page.locator("#jobs tbody tr").count()).toBeGreaterThanOrEqual(3);
  await page.goto(`${api.url}/ui#/quotas`);
  await expect.poll(() => page.textContent("#view")).toContain("acme");
  await page.goto(`${api.url}/ui#/schedulers`);
  await expect.poll(() => page.textContent("#view")).toContain("batch");
  // Rates need two samples (taken every 2 s): then each scheduler has its charts.
  await expect.poll(() => page.locator("svg.chart polyline").count(), { timeout: 15_000 }).toBeGreaterThan(0);
  expect(await page.textContent("#view")).toMatch(/plans\/s[\s\S]*placements\/s[\s\S]*conflict fraction/);
  await page.goto(`${api.url}/ui#/`);
  await page.waitForSelector(".heatmap a");
  await page.waitForTimeout(500);
  if (process.env.OMEGA_SCREENSHOT) await page.screenshot({ path: process.env.OMEGA_SCREENSHOT });
  // A cell's machines, with the claims on one of them (the admin may read them).
  const { machines } = (await api.call("GET", "/v1/cells/east/machines")).body;
  const busy = machines.find((m: { tasks: number }) => m.tasks > 0).name;
  await page.goto(`${api.url}/ui#/cells/east`);
  await page.click(`tr[data-machine="${busy}"]`);
  await expect.poll(() => page.textContent(`tr[data-claims="${busy}"]`)).toMatch(/job \d+ task \d/);
  // A job's page: task counts, placements and its event timeline.
  await page.goto(`${api.url}/ui#/jobs/${train}`);
  await expect.poll(() => page.textContent("#timeline")).toContain("placed");
  await page.waitForTimeout(300);
  if (process.env.OMEGA_SCREENSHOT) {
    await page.screenshot({ path: process.env.OMEGA_SCREENSHOT.replace(/\.png$/, "-job.png") });
  }
  await page.close();
}, 60_000);
