import type { JobSpec } from "../../domain/job-spec.ts";
import type { Queryable } from "./queryable.ts";

export interface Submission {
  tenant: string;
  spec: JobSpec;
  /** The Idempotency-Key, if any. */
  clientToken?: string;
}

/** A job submitted, or the database's refusal of it (SQLSTATE and message, as a thrown error has). */
export type SubmissionResult =
  | { ok: true; id: number; created: boolean }
  | { ok: false; code: string; message: string };

interface Row {
  ord: number;
  id: number | null;
  created: boolean;
  error_code: string | null;
  error_message: string | null;
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
    results[r.ord - 1] =
      r.id !== null
        ? { ok: true, id: r.id, created: r.created }
        : { ok: false, code: r.error_code ?? "XX000", message: r.error_message ?? "the submission failed" };
  }
  return results;
}
