import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

// 0270 rewrote the CHECK of omega.name for speed: it must accept exactly the names the original
// pattern accepted (0001), no more, no fewer.
const ORIGINAL = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

/** For each value: does omega.name take it, and did the original pattern match it? */
async function verdicts(values: readonly string[]): Promise<{ domain: boolean; original: boolean }[]> {
  const { rows } = await db.pool.query<{ domain: boolean; original: boolean }>(
    `select omega.is_name_value(v) as domain, v ~ $2 as original
     from unnest($1::text[]) with ordinality as u(v, n) order by n`,
    [values, ORIGINAL],
  );
  return rows;
}

beforeAll(async () => {
  // A test helper only: whether a cast to the domain succeeds, without aborting the statement.
  await db.pool.query(`
    create function omega.is_name_value(v text) returns boolean language plpgsql as $$
    begin
      perform v::omega.name;
      return true;
    exception when check_violation then
      return false;
    end $$`);
});

const edges = [
  "a",
  "0",
  "-",
  "a-",
  "-a",
  "a-b",
  "a--b",
  "A",
  "aé",
  "a_b",
  "a.b",
  "a b",
  "a\nb",
  "x".repeat(63),
  "x".repeat(64),
  `a${"-".repeat(61)}b`,
  `a${"-".repeat(62)}b`,
  "é".repeat(31),
];

it("accepts exactly what the original pattern accepted, at the edges", async () => {
  for (const { domain, original } of await verdicts(edges)) expect(domain).toBe(original);
});

it("accepts exactly what the original pattern accepted, for any string", async () => {
  // Mostly letters of names, so that long valid names and near misses both come up.
  const unit = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(..."az09-".split("")) },
    { weight: 1, arbitrary: fc.constantFrom(..."_.A é\n".split("")) },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit, maxLength: 70 }), { minLength: 50, maxLength: 50 }),
      async (values) => {
        const rows = await verdicts(values);
        for (const [i, { domain, original }] of rows.entries()) {
          expect(domain, JSON.stringify(values[i])).toBe(original);
        }
      },
    ),
    { numRuns: 40 },
  );
});
