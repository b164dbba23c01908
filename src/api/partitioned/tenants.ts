import type { Pool } from "../../db/pool.ts";
import type { Logger } from "../../log.ts";

const ATTEMPTS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tenants are global (SPEC: a small reference table). Under `omega serve` over partitions every
 * tenant write (create, limits, token) is made on p0 by its API — one place that checks it and
 * gives the id — and then its whole row (id, name, token hash, every limit) is copied to every
 * other partition (omega.replicate_tenant_row, migration 0061) before the client is answered: the
 * tenant and its token work in every cell the moment the 201 arrives. Copies are idempotent, so a
 * failed one is completed by repeating the request (a 409 is copied too) or by the next start,
 * which copies every tenant of p0 (`syncAll`).
 */
export class TenantReplicator {
  readonly #pools: readonly Pool[];
  readonly #logger: Logger;
  readonly #onCopied: () => void;

  /** `onCopied`: after a tenant reached every partition (the APIs forget the tokens they checked). */
  constructor(pools: readonly Pool[], logger: Logger, onCopied: () => void = () => {}) {
    this.#pools = pools;
    this.#logger = logger;
    this.#onCopied = onCopied;
  }

  /** Copies tenant `name`'s row from p0 to the other partitions; throws if one stays unreachable. */
  async replicate(name: string): Promise<void> {
    const [source, ...others] = this.#pools;
    if (!source || others.length === 0) return;
    const { rows } = await source.query<{ row: unknown }>(
      "select to_jsonb(t) as row from omega.tenants t where name = $1",
      [name],
    );
    const row = rows[0]?.row;
    if (!row) return;
    await Promise.all(others.map((pool, i) => this.#copy(pool, row, i + 1)));
    this.#onCopied();
  }

  /** Copies every tenant of p0 to the other partitions (at start: completes any copy that failed). */
  async syncAll(): Promise<number> {
    const [source, ...others] = this.#pools;
    if (!source || others.length === 0) return 0;
    const { rows } = await source.query<{ row: unknown }>("select to_jsonb(t) as row from omega.tenants t");
    for (const { row } of rows) await Promise.all(others.map((pool, i) => this.#copy(pool, row, i + 1)));
    return rows.length;
  }

  async #copy(pool: Pool, row: unknown, partition: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await pool.query("select omega.replicate_tenant_row($1::jsonb)", [JSON.stringify(row)]);
        return;
      } catch (error) {
        if (attempt >= ATTEMPTS) throw error;
        this.#logger.warn({ err: error, partition, attempt }, "copying a tenant failed; retrying");
        await sleep(200 * 2 ** attempt);
      }
    }
  }
}
