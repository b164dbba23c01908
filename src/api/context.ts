import type { Kysely } from "kysely";
import type { Pool } from "../db/pool.ts";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../log.ts";
import type { Auth } from "./auth.ts";
import type { LoadShedder } from "./load-shedding.ts";
import type { TokenBuckets } from "./rate-limit.ts";
import type { SubmissionBatcher } from "./submission-batcher.ts";

/** What every route module is built from. */
export interface ApiContext {
  pool: Pool;
  db: Kysely<DB>;
  auth: Auth;
  logger: Logger;
  /** Backpressure: refuses with 503 when the database is saturated; /readyz reports it. */
  shedder: LoadShedder;
  /** Group commit of job submissions. */
  submissions: SubmissionBatcher;
  /** Tenants' submission rate buckets, when shared by several APIs of one process (partitions). */
  submissionBuckets?: TokenBuckets;
}
