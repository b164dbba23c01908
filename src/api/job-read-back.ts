import type { JobDetail } from "../db/queries/job-get.ts";
import { jobsGet } from "../db/queries/job-get.ts";
import type { Queryable } from "../db/queries/queryable.ts";

interface Read {
  id: number;
  tenantId: number;
  resolve(job: JobDetail | undefined): void;
  reject(error: unknown): void;
}

/**
 * Reads accepted submissions back for their responses, together. The submissions one transaction
 * committed (SubmissionBatcher) are answered in the same turn of the event loop; their reads,
 * gathered until the next turn, go to the database as one statement instead of a round trip each.
 * At light load a read goes alone, a turn of the loop later.
 */
export class JobReadBack {
  private gathered: Read[] = [];

  constructor(private readonly db: Queryable) {}

  /** The job as its tenant sees it, or undefined if it is not theirs (or gone). */
  read(id: number, tenantId: number): Promise<JobDetail | undefined> {
    return new Promise((resolve, reject) => {
      if (this.gathered.length === 0) setImmediate(() => this.flush());
      this.gathered.push({ id, tenantId, resolve, reject });
    });
  }

  private flush(): void {
    const reads = this.gathered;
    this.gathered = [];
    jobsGet(this.db, reads).then(
      (jobs) => {
        for (const [i, r] of reads.entries()) r.resolve(jobs[i]);
      },
      (error: unknown) => {
        for (const r of reads) r.reject(error);
      },
    );
  }
}
