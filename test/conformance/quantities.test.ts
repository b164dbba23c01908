/**
 * One quantity grammar on both sides: each string below goes through parseQuantity (the API's zod
 * schemas) and omega.parse_quantity (omega.submit_job, omega.put_machine, omega.put_quota), which
 * must give the same number or both refuse it. The forms are those of Kubernetes'
 * resource.Quantity (k8s.io/apimachinery/pkg/api/resource/quantity_test.go: TestQuantityParse).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseQuantity } from "../../src/domain/quantity.ts";
import type { Dimension } from "../../src/domain/resources.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const STRINGS = [
  "0",
  "1",
  "500m",
  "2",
  "0.1",
  "1.1",
  "0.0001",
  "512Mi",
  "4Gi",
  "1.5Gi",
  "1G",
  "1M",
  "1Ki",
  "1Ti",
  "1e3",
  "1E3",
  "1.5e3",
  "5e-1",
  "1e+2",
  "1e-2",
  "1e-3",
  "1e-4",
  ".5",
  "1.",
  "+1",
  "+.5",
  "-0",
  "-1",
  "-.5",
  "0.0",
  "250u",
  "1500000u",
  "500000000n",
  "1n",
  "1048577",
  "1e-300",
  "1e100",
  "1e101",
  "2000m",
  "1500m",
  "1E",
  "1Ei",
  "1P",
  "1Pi",
  "100Gi",
  "7.5Mi",
  "0.5Ki",
  "1000000000",
  "1000000001",
  "",
  ".",
  "1e",
  "e3",
  "1e3.5",
  "1Mi3",
  "++1",
  " 1",
  "1 Gi",
  "1gi",
  "1X",
  "abc",
  "0x10",
  "1_000",
  "١",
  "1e-2Mi",
];
const DIMENSIONS: Dimension[] = ["cpu", "memory", "gpu", "disk"];

function tsVerdict(value: string, dimension: Dimension): string {
  try {
    return String(parseQuantity(value, dimension));
  } catch {
    return "refused";
  }
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe.each(DIMENSIONS)("%s: TypeScript and SQL parse every quantity alike", (dimension) => {
  it.each(STRINGS)("%j", async (value) => {
    let sql: string;
    try {
      const { rows } = await db.pool.query("select omega.parse_quantity(to_jsonb($1::text), $2)::text as v", [
        value,
        dimension,
      ]);
      sql = rows[0].v;
    } catch (error) {
      sql = (error as { code?: string }).code === "OM422" ? "refused" : `error: ${(error as Error).message}`;
    }
    expect(sql).toBe(tsVerdict(value, dimension));
  });
});
