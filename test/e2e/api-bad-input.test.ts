import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN, type Api, type CallOptions, expectProblem, startApi } from "../support/api-client.ts";
import { makeCell, makeMachine, makeTenant, rowCounts, submitJob } from "../support/factories.ts";

let api: Api;
let acme: string;
let other: string;
let acmeJob: number;

beforeAll(async () => {
  // As a deployment runs it: through a login role of omega_api, so every endpoint proves the role suffices.
  api = await startApi({ as: "omega_api" });
  await makeCell(api.db.pool, "east");
  await makeMachine(api.db.pool, { name: "m1" });
  acme = (await makeTenant(api.db.pool, "acme")).token;
  other = (await makeTenant(api.db.pool, "other")).token;
  acmeJob = await submitJob(api.db.pool, { tasks: 2 }, "acme");
});
afterAll(() => api.close());

const job = (extra: Record<string, unknown> = {}) => ({
  cell: "east",
  tasks: 1,
  resources: { cpu: "1" },
  ...extra,
});

type Who = "acme" | "other" | "admin" | "none" | { token: string };
interface Request {
  method: string;
  path: string | (() => string);
  as: Who;
  options?: Omit<CallOptions, "token">;
}

const req = (
  method: string,
  path: Request["path"],
  as: Who = "admin",
  options: Request["options"] = {},
): Request => ({
  method,
  path,
  as,
  options,
});
const get = (path: Request["path"], as?: Who) => req("GET", path, as);
const del = (path: Request["path"], as?: Who) => req("DELETE", path, as);
const post = (path: string, body?: unknown, as?: Who) => req("POST", path, as, { body });
const put = (path: string, body: unknown, as?: Who) => req("PUT", path, as, { body });
const raw = (method: string, path: string, text: string, type?: string, as: Who = "acme") =>
  req(method, path, as, { raw: text, headers: type ? { "content-type": type } : {} });
const submit = (body: unknown) => post("/v1/jobs", body, "acme");
const submitRaw = (text: string) => raw("POST", "/v1/jobs", text, "application/json");
const withAffinity = (term: unknown) => job({ constraints: { affinity: [term] } });
const deep = `{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
const surrogate = JSON.stringify(job()).replace('"cell"', '"name":"\\ud800","cell"');

/** [what, status, request, field paths that `errors` must name, a pattern the detail must match] */
type Case = [string, number, Request, string[]?, RegExp?];

const cases: Case[] = [
  // Bodies that are not JSON objects.
  ["malformed JSON", 400, submitRaw('{"cell": ')],
  ["a JSON scalar", 400, submitRaw('"job"')],
  ["an empty body", 400, raw("POST", "/v1/cells", "", "application/json", "admin")],
  ["a JSON array", 422, submit([job()])],
  ["a body over 1 MiB", 413, submit(job({ name: "x".repeat(1_100_000) }))],
  ["text/plain", 415, raw("POST", "/v1/jobs", JSON.stringify(job()), "text/plain")],
  ["a form", 415, raw("POST", "/v1/cells", "name=west", "application/x-www-form-urlencoded", "admin")],
  ["no content type", 415, raw("PUT", "/v1/cells/east/machines/m9", '{"resources":{}}', undefined, "admin")],
  [
    "a latin1 charset",
    415,
    raw("POST", "/v1/cells", '{"name":"w"}', "application/json; charset=latin1", "admin"),
  ],
  // Job specs that are JSON but not valid.
  ["an unknown field", 422, submit(job({ colour: "red" })), ["colour"]],
  ["an unknown resource", 422, submit(job({ resources: { tpu: 1 } })), ["resources.tpu"]],
  [
    "an unknown affinity field",
    422,
    submit(withAffinity({ key: "z", op: "Exists", w: 3 })),
    ["constraints.affinity.0.w"],
  ],
  [
    "__proto__",
    422,
    submitRaw('{"cell":"east","tasks":1,"resources":{},"__proto__":{"a":1}}'),
    ["__proto__"],
  ],
  ["deep nesting", 422, submitRaw(deep), ["x"]],
  ["negative cpu", 422, submit(job({ resources: { cpu: -1 } })), ["resources.cpu"]],
  ["10^30 memory", 422, submit(job({ resources: { memory: 1e30 } })), ["resources.memory"]],
  ["a huge quantity string", 422, submit(job({ resources: { memory: "9999999Ei" } })), ["resources.memory"]],
  ['"abc" cpu', 422, submit(job({ resources: { cpu: "abc" } })), ["resources.cpu"]],
  ["fractional base units", 422, submit(job({ resources: { gpu: 0.5 } })), ["resources.gpu"]],
  ["a boolean quantity", 422, submit(job({ resources: { disk: true } })), ["resources.disk"]],
  ["zero tasks", 422, submit(job({ tasks: 0 })), ["tasks"]],
  ["100001 tasks", 422, submit(job({ tasks: 100_001 })), ["tasks"]],
  ["fractional tasks", 422, submit(job({ tasks: 2.5 })), ["tasks"]],
  ["tasks as a string", 422, submit(job({ tasks: "3" })), ["tasks"]],
  ["no cell", 422, submit({ tasks: 1, resources: {} }), ["cell"]],
  ["no resources", 422, submit({ cell: "east", tasks: 1 }), ["resources"]],
  ["priority 1000", 422, submit(job({ priority: 1000 })), ["priority"]],
  ["an inherited band name", 422, submit(job({ priority: "toString" })), ["priority"]],
  [
    "gang larger than the job",
    422,
    submit(job({ tasks: 2, gang: { minAvailable: 3 } })),
    ["gang.minAvailable"],
  ],
  [
    "In without values",
    422,
    submit(withAffinity({ key: "zone", op: "In" })),
    ["constraints.affinity.0.values"],
  ],
  [
    "an unknown affinity op",
    422,
    submit(withAffinity({ key: "zone", op: "Near" })),
    ["constraints.affinity.0.op"],
  ],
  ["maxPerMachine 0", 422, submit(job({ constraints: { maxPerMachine: 0 } })), ["constraints.maxPerMachine"]],
  [
    "a numeric selector",
    422,
    submit(job({ constraints: { selector: { zone: 1 } } })),
    ["constraints.selector.zone"],
  ],
  ["NUL in a name", 422, submit(job({ name: "a\u0000b" })), ["name"]],
  ["an unpaired surrogate", 422, submitRaw(surrogate), ["name"]],
  ["a cell that does not exist", 422, submit(job({ cell: "nope" })), ["cell"], /nope/],
  ["an unknown scheduler", 422, submit(job({ scheduler: "bacth" })), ["scheduler"], /bacth/],
  // Tokens.
  ["no token", 401, get("/v1/jobs", "none")],
  ["a wrong token", 401, get("/v1/cells", { token: "omt_not-a-real-token" })],
  ["the admin token with a suffix", 401, get("/v1/cells", { token: `${ADMIN}x` })],
  ["a malformed token", 401, get("/v1/cells", { token: "a b c" })],
  ["a token with no scheme", 401, req("GET", "/v1/cells", "none", { headers: { authorization: ADMIN } })],
  [
    "Basic auth",
    401,
    req("GET", "/v1/cells", "none", { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } }),
  ],
  ["a tenant creating a cell", 403, post("/v1/cells", { name: "west" }, "acme")],
  ["a tenant registering a machine", 403, put("/v1/cells/east/machines/m9", { resources: {} }, "acme")],
  ["a tenant draining", 403, post("/v1/cells/east/machines/m1/drain", undefined, "acme")],
  ["a tenant removing a machine", 403, del("/v1/cells/east/machines/m1", "acme")],
  ["a tenant creating a tenant", 403, post("/v1/tenants", { name: "evil" }, "acme")],
  ["a tenant listing tenants", 403, get("/v1/tenants", "acme")],
  ["a tenant rotating a token", 403, post("/v1/tenants/other/token", undefined, "acme")],
  ["a tenant setting its quota", 403, put("/v1/quotas/acme/east/batch", { resources: { cpu: 1e9 } }, "acme")],
  ["the admin submitting a job", 403, post("/v1/jobs", job()), undefined, /jobs belong to tenants/],
  // Things that do not exist (or are not the caller's).
  ["another tenant's job", 404, get(() => `/v1/jobs/${acmeJob}`, "other")],
  ["cancelling another tenant's job", 404, del(() => `/v1/jobs/${acmeJob}`, "other")],
  ["a non-numeric job id", 404, get("/v1/jobs/abc")],
  ["a negative job id", 404, del("/v1/jobs/-1")],
  ["job id 1e3", 404, get("/v1/jobs/1e3")],
  ["a job id past bigint", 404, get("/v1/jobs/99999999999999999999999")],
  ["a job id never issued", 404, del("/v1/jobs/987654321")],
  ["machines of a missing cell", 404, get("/v1/cells/nope/machines", "acme")],
  ["a NUL cell name", 404, get("/v1/cells/%00/machines")],
  ["a bad %-escape", 400, get("/v1/cells/%E0%A4%A/machines")],
  ["a machine in a missing cell", 404, put("/v1/cells/nope/machines/m1", { resources: { cpu: 1 } })],
  ["draining a missing machine", 404, post("/v1/cells/east/machines/ghost/drain")],
  ["removing a missing machine", 404, del("/v1/cells/east/machines/ghost")],
  ["rotating a missing tenant's token", 404, post("/v1/tenants/ghost/token")],
  ["a quota for a missing tenant", 404, put("/v1/quotas/ghost/east/batch", { resources: { cpu: 1 } })],
  ["a quota in a missing cell", 404, put("/v1/quotas/acme/nope/batch", { resources: { cpu: 1 } })],
  ["an unknown endpoint", 404, get("/v1/nope")],
  ["capacity of a missing cell", 404, get("/v1/cells/nope/capacity?cpu=1")],
  // Other invalid requests.
  ["an invalid cell name", 422, post("/v1/cells", { name: "East Coast" }), ["name"]],
  ["an existing cell", 409, post("/v1/cells", { name: "east" }), undefined, /east/],
  ["an existing tenant", 409, post("/v1/tenants", { name: "acme" }), undefined, /acme/],
  ["an invalid machine name", 422, put("/v1/cells/east/machines/bad%20name", { resources: {} }), ["name"]],
  [
    "a numeric label",
    422,
    put("/v1/cells/east/machines/m9", { resources: {}, labels: { zone: 1 } }),
    ["labels.zone"],
  ],
  [
    "a taint without a key",
    422,
    put("/v1/cells/east/machines/m9", { resources: {}, taints: [{ value: "x" }] }),
    ["taints.0.key"],
  ],
  [
    "resources as a sentence",
    422,
    put("/v1/cells/east/machines/m9", { resources: "4 cores" }),
    ["resources"],
  ],
  ["a best-effort quota", 422, put("/v1/quotas/acme/east/best-effort", { resources: { cpu: 1 } }), ["band"]],
  ["a negative quota", 422, put("/v1/quotas/acme/east/batch", { resources: { cpu: -5 } }), ["resources.cpu"]],
  ["an unknown quota field", 422, put("/v1/quotas/acme/east/batch", { resources: {}, band: "x" }), ["band"]],
  ["limit=0", 422, get("/v1/jobs?limit=0"), ["limit"]],
  ["limit=1001", 422, get("/v1/jobs?limit=1001"), ["limit"]],
  ["after=abc", 422, get("/v1/jobs?after=abc"), ["after"]],
  ["an unknown state", 422, get("/v1/jobs?state=sleeping", "acme"), ["state"]],
  ["a repeated query parameter", 422, get("/v1/jobs?state=pending&state=placed"), ["state"]],
  ["an unknown query parameter", 422, get("/v1/jobs?sort=id"), ["sort"]],
  ["an empty shape", 422, get("/v1/cells/east/capacity?cpu=0")],
  ["no shape", 422, get("/v1/cells/east/capacity")],
  ["a bad quantity in a shape", 422, get("/v1/cells/east/capacity?memory=lots"), ["memory"]],
  [
    "constraints that are not JSON",
    422,
    get("/v1/cells/east/capacity?cpu=1&constraints={zone"),
    ["constraints"],
  ],
  [
    "an unknown constraint in a shape",
    422,
    get(`/v1/cells/east/capacity?cpu=1&constraints=${encodeURIComponent('{"gang":{}}')}`),
    ["constraints.gang"],
  ],
  [
    "a bad affinity in a shape",
    422,
    get(
      `/v1/cells/east/capacity?cpu=1&constraints=${encodeURIComponent('{"affinity":[{"key":"z","op":"Near"}]}')}`,
    ),
    ["constraints.affinity.0.op"],
  ],
];

function tokenOf(who: Who): string | null {
  if (who === undefined || who === "admin") return ADMIN;
  if (who === "none") return null;
  if (who === "acme") return acme;
  if (who === "other") return other;
  return who.token;
}

describe("bad requests are refused with a problem, and change nothing", () => {
  it.each(cases)("%s → %i", async (_name, status, request, errors, detail) => {
    const before = await rowCounts(api.db.pool);
    const jobBefore = await api.db.pool.query("select state, updated_at from omega.jobs where id = $1", [
      acmeJob,
    ]);
    const path = typeof request.path === "function" ? request.path() : request.path;
    const reply = await api.call(request.method, path, { ...request.options, token: tokenOf(request.as) });
    expectProblem(reply, status);
    if (status === 401) expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer realm="omega"/);
    if (errors) {
      const paths = (reply.body.errors ?? []).map((e: { path: string; message: string }) => e.path);
      expect(paths).toEqual(expect.arrayContaining(errors));
      for (const e of reply.body.errors) expect(e.message).toEqual(expect.any(String));
    }
    if (detail) expect(reply.body.detail).toMatch(detail);
    expect(await rowCounts(api.db.pool)).toEqual(before);
    const jobAfter = await api.db.pool.query("select state, updated_at from omega.jobs where id = $1", [
      acmeJob,
    ]);
    expect(jobAfter.rows).toEqual(jobBefore.rows);
  });

  it("refuses to shrink a machine below what its claims use (409), leaving it as it was", async () => {
    const { rows } = await api.db.pool.query(
      "select t.id as task_id, m.id as machine_id, m.version from omega.tasks t, omega.machines m where t.job_id = $1 and t.index = 0 and m.name = 'm1'",
      [acmeJob],
    );
    await api.db.pool.query("select * from omega.commit_plan('east', 'batch', $1, $2, $3)", [
      [rows[0].task_id],
      [rows[0].machine_id],
      [rows[0].version],
    ]);
    const before = await api.db.pool.query("select cpu, version from omega.machines where name = 'm1'");
    const reply = await api.call("PUT", "/v1/cells/east/machines/m1", {
      body: { resources: { cpu: 10, memory: 8192 } },
    });
    expectProblem(reply, 409);
    const after = await api.db.pool.query("select cpu, version from omega.machines where name = 'm1'");
    expect(after.rows).toEqual(before.rows);
  });

  it("answers a 500 without details when the database fails unexpectedly", async () => {
    await api.db.pool.query("alter view omega.scheduler_stats rename to scheduler_stats_away");
    try {
      const reply = await api.call("GET", "/v1/schedulers");
      expectProblem(reply, 500);
      expect(reply.body.detail).not.toContain("scheduler_stats");
    } finally {
      await api.db.pool.query("alter view omega.scheduler_stats_away rename to scheduler_stats");
    }
  });
});
