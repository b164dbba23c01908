import type { Pool } from "../../db/pool.ts";

/** A cell's calls are refused while `omega move-cell` moves it (the router's SQLSTATE OM503). */
export class CellMoving extends Error {}

/**
 * Where things live, for `omega serve` over several partitions: a cell on the partition the
 * router's directory names (or where its name hashes: PL/Proxy's rule, asked of the router so the
 * two never disagree), an id first on its home partition. Not cached: a move switches the
 * directory at once, and one primary-key read on the router per request is cheaper than sending a
 * request to a partition the cell has left.
 */
export class PartitionMap {
  readonly count: number;
  readonly #router: Pool;

  constructor(router: Pool, count: number) {
    this.#router = router;
    this.count = count;
  }

  /** The partition that owns `cell` (0…count-1); throws CellMoving during its move. */
  async ofCell(cell: string): Promise<number> {
    try {
      const { rows } = await this.#router.query<{ p: number }>(
        "select omega_router.partition_of($1) & ($2 - 1) as p",
        [cell, this.count],
      );
      return rows[0]?.p ?? 0;
    } catch (error) {
      if ((error as { code?: string }).code === "OM503") throw new CellMoving((error as Error).message);
      throw error;
    }
  }

  /**
   * The partition that made `id` (migration 0061: partition k of N makes ids ≡ k+1 mod N). A job of
   * a cell moved since lives elsewhere: callers look there first, then on the others.
   */
  homeOf(id: number): number {
    return (((id - 1) % this.count) + this.count) % this.count;
  }
}
