import type { Queryable } from "./queryable.ts";

/** omega.create_cell; a taken name is refused with OM409. */
export async function cellCreate(db: Queryable, name: string): Promise<void> {
  await db.query("select from omega.create_cell($1)", [name]);
}
