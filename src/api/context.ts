import type { Kysely } from "kysely";
import type { Pool } from "../db/pool.ts";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../log.ts";
import type { Auth } from "./auth.ts";

/** What every route module is built from. */
export interface ApiContext {
  pool: Pool;
  db: Kysely<DB>;
  auth: Auth;
  logger: Logger;
}
