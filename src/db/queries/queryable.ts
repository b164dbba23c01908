import type { Client, Pool } from "../pool.ts";

/** A pool, or a client inside a transaction: query modules run on either. */
export type Queryable = Pool | Client;
