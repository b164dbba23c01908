/**
 * Who a token stood for, remembered briefly. Every tenant request authenticated with a statement of
 * its own — on this machine a round trip costs the API about as much CPU in its socket write as the
 * database spends answering — and a busy tenant sends the same token hundreds of times a second.
 *
 * Only tokens found are remembered, for TTL_MS: a token rotated, or a limit changed, through this
 * API process forgets them all at once (`forget`); through another replica or in SQL, within TTL_MS.
 * (Kubernetes caches webhook token reviews for two minutes by default.)
 */
export const PRINCIPAL_TTL_MS = 1_000;

/** Bounds the memory a flood of distinct valid tokens could take (each a few hundred bytes). */
const MAX_ENTRIES = 10_000;

export class PrincipalCache<P> {
  private readonly entries = new Map<string, { principal: P; expiresAt: number }>();
  /**
   * Moves at every `clear`. A lookup that began before a rotation may end after it with the old
   * answer: it is remembered only if no clear came between (see `set`).
   */
  generation = 0;

  constructor(
    private readonly ttlMs = PRINCIPAL_TTL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(digest: Buffer): P | undefined {
    const key = digest.toString("base64");
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry.principal;
    this.entries.delete(key);
    return undefined;
  }

  /** Remembers what a lookup begun at `generation` found, unless the cache was cleared since. */
  set(digest: Buffer, principal: P, generation: number): void {
    if (generation !== this.generation) return;
    // The oldest entry goes first (a Map iterates in insertion order).
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(digest.toString("base64"), { principal, expiresAt: this.now() + this.ttlMs });
  }

  /** Forgets every token: one was rotated, or a tenant's limits changed. */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
