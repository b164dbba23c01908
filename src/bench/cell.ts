import type { Queryable } from "../db/queries/queryable.ts";
import { sha256 } from "../domain/tokens.ts";

export interface CellShape {
  name: string;
  machines: number;
  /** Per machine, in millicores and MiB. */
  cpu: number;
  memory: number;
  /** Machines get label zone=z0…z(zones-1), round robin. */
  zones?: number;
}

/**
 * A cell of identical machines, inserted in one statement: registering 10,000 machines one API
 * call at a time would time the API, not the scheduler.
 */
export async function createCell(db: Queryable, shape: CellShape): Promise<void> {
  await db.query("select omega.create_cell($1)", [shape.name]);
  await db.query(
    `insert into omega.machines (cell, name, cpu, memory, labels)
     select $1, 'm' || i, $3, $4, jsonb_build_object('zone', 'z' || (i % $5)) from generate_series(1, $2) i`,
    [shape.name, shape.machines, shape.cpu, shape.memory, shape.zones ?? 3],
  );
}

/** A tenant for SQL submissions (its token is not needed: omega.submit_job takes the tenant's name). */
export async function createTenant(db: Queryable, name: string): Promise<void> {
  await db.query("insert into omega.tenants (name, token_hash) values ($1, $2)", [name, sha256(name)]);
}
