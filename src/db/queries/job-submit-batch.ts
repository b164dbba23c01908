import type { JobSpec } from "../../domain/job-spec.ts";
import { freshJobDetail, type JobDetail } from "./job-get.ts";
import type { Queryable } from "./queryable.ts";

export interface Submission {
  tenant: string;
  spec: JobSpec;
  /** The Idempotency-Key, if any. */
  clientToken?: string;
}

/**
 * A job submitted, or the database's refusal of it (SQLSTATE and message, as a thrown error has).
 * A job the submission created comes with its detail as the submitting tenant sees it (`job`); a
 * repeated idempotent submission's job may have moved since and has none: read it back.
 */
export type SubmissionResult = ({ ok: true } & Submitted) | { ok: false; code: string; message: string };

/** An accepted submission: its job, whether this submission created it, and then its detail. */
export interface Submitted {
  id: number;
  created: boolean;
  job?: JobDetail;
}

interface Row {
  ord: number;
  id: number | null;
  created: boolean;
  error_code: string | null;
  error_message: string | null;
  job: Record<string, unknown> | null;
}

/** omega.submit_jobs: the submissions in one transaction, each checked and kept or refused alone. */
export async function jobSubmitBatch(
  db: Queryable,
  batch: readonly Submission[],
): Promise<SubmissionResult[]> {
  // Named: prepared once per connection (a submission alone: 1.08 → 1.01 ms of backend CPU).
  const { rows } = await db.query<Row>({
    name: "omega.submit_jobs",
    text: "select * from omega.submit_jobs($1::text[], $2::jsonb[], $3::text[])",
    values: [
      batch.map((s) => s.tenant),
      batch.map((s) => JSON.stringify(s.spec)),
      batch.map((s) => s.clientToken ?? null),
    ],
  });
  const results: SubmissionResult[] = new Array(batch.length);
  for (const r of rows) {
    const tenant = batch[r.ord - 1]?.tenant ?? "";
    results[r.ord - 1] =
      r.id === null
        ? { ok: false, code: r.error_code ?? "XX000", message: r.error_message ?? "the submission failed" }
        : r.job === null
          ? { ok: true, id: r.id, created: r.created }
          : { ok: true, id: r.id, created: r.created, job: freshJobDetail(r.job, tenant) };
  }
  return results;
}
