import { afterAll, beforeAll, expect, it } from "vitest";
import { createPool } from "../../src/db/pool.ts";
import { type Api, expectProblem, startApi } from "../support/api-client.ts";
import { makeCell, makeTenant, rowCounts } from "../support/factories.ts";

let api: Api;
let acme: string;
let other: string;
beforeAll(async () => {
  api = await startApi();
  await makeCell(api.db.pool);
  acme = (await makeTenant(api.db.pool, "acme")).token;
  other = (await makeTenant(api.db.pool, "other")).token;
});
afterAll(() => api.close());

const spec = { cell: "east", tasks: 3, resources: { cpu: "1" }, maxRetries: 2 };
const submit = (key: string, body: unknown = spec, token = acme) =>
  api.call("POST", "/v1/jobs", { token, body, headers: { "idempotency-key": key } });
const jobsWithKey = async (key: string) =>
  (await api.db.pool.query("select id from omega.jobs where client_token = $1 order by id", [key])).rows.map(
    (r) => r.id,
  );

it("20 concurrent submissions with one Idempotency-Key create one job, and all of them answer with it", async () => {
  const replies = await Promise.all(Array.from({ length: 20 }, () => submit("retry-42")));
  const ids = new Set(replies.map((r) => r.body.id));
  expect(replies.map((r) => r.status)).toEqual(replies.map(() => 201));
  expect(ids.size).toBe(1);
  expect(await jobsWithKey("retry-42")).toEqual([...ids]);
  expect(replies.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(19);
  const [id] = ids;
  const tasks = await api.db.pool.query("select count(*)::int as n from omega.tasks where job_id = $1", [id]);
  expect(tasks.rows[0].n).toBe(3);
  const submitted = await api.db.pool.query(
    "select count(*)::int as n from omega.events where job_id = $1 and kind = 'submitted'",
    [id],
  );
  expect(submitted.rows[0].n).toBe(1);
});

it("the same key with a different body is refused (422) and changes nothing; the same body with equivalent quantities is the same request", async () => {
  const first = await submit("k-body");
  const before = await rowCounts(api.db.pool);
  const changed = await submit("k-body", { ...spec, tasks: 4 });
  expectProblem(changed, 422);
  expect(changed.body.detail).toBe(
    `this idempotency key was already used for job ${first.body.id} with a different request`,
  );
  expect(await rowCounts(api.db.pool)).toEqual(before);
  // "1" cpu and 1000 millicores are the same request once validated.
  const same = await submit("k-body", { ...spec, resources: { cpu: 1000 } });
  expect(same.body.id).toBe(first.body.id);
  expect(await rowCounts(api.db.pool)).toEqual(before);
});

it("keys belong to their tenant; without a key every submission is a new job", async () => {
  const mine = await submit("shared-key");
  const theirs = await submit("shared-key", spec, other);
  expect(theirs.status).toBe(201);
  expect(theirs.body.id).not.toBe(mine.body.id);
  const plain = await Promise.all(
    [1, 2].map(() => api.call("POST", "/v1/jobs", { token: acme, body: spec })),
  );
  expect(new Set(plain.map((r) => r.body.id)).size).toBe(2);
});

it("refuses a key that is not 1-255 visible ASCII characters (400), creating nothing", async () => {
  const before = await rowCounts(api.db.pool);
  for (const key of ["x".repeat(256), "two words", "tab\there", ""]) {
    expectProblem(await submit(key), 400);
  }
  expect(await rowCounts(api.db.pool)).toEqual(before);
});

it("in SQL: 20 concurrent omega.submit_job calls with one client_token, on 20 connections, create one job", async () => {
  const pool = createPool(api.db.url, { max: 20 });
  try {
    const sql = "select omega.submit_job('acme', $1, 'sql-token') as id";
    const body = { cell: "east", tasks: 2, resources: { cpu: "500m" } };
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () => (await pool.query(sql, [body])).rows[0].id),
    );
    expect(new Set(ids).size).toBe(1);
    expect(await jobsWithKey("sql-token")).toEqual([ids[0]]);
    await expect(pool.query(sql, [{ ...body, tasks: 3 }])).rejects.toMatchObject({ code: "OM422" });
    // The two-argument form SQL users already call still works, with no token.
    const plain = await pool.query("select omega.submit_job('acme', $1) as id", [body]);
    expect(plain.rows[0].id).toBeGreaterThan(ids[0]);
  } finally {
    await pool.end();
  }
});
