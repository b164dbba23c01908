import type { Kysely } from "kysely";
import type { DB } from "../schema.ts";

export async function tenantList(db: Kysely<DB>): Promise<{ id: number; name: string; createdAt: Date }[]> {
  return db.selectFrom("tenants").select(["id", "name", "created_at as createdAt"]).orderBy("name").execute();
}
