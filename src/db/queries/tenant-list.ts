import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";

export async function tenantList(
  db: Kysely<DB>,
): Promise<{ id: number; name: string; weight: number; createdAt: Date }[]> {
  return db
    .selectFrom("tenants")
    .select(["id", "name", "weight", "created_at as createdAt"])
    .orderBy("name")
    .execute();
}
