/**
 * Seeded randomness, so a plan can be replayed: the scheduler seeds each evaluation from its id and
 * the state version it planned on, and the same snapshot then gives the same plan.
 */

/** mulberry32: a tiny, fast 32-bit PRNG; returns numbers in [0, 1). Good enough for shuffles. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 32-bit seed from any parts (FNV-1a over their text, separated so ("1", "23") ≠ ("12", "3")).
 * @example seedFrom(evaluationId, stateVersion)
 */
export function seedFrom(...parts: (string | number)[]): number {
  let hash = 0x811c9dc5;
  const text = parts.join("\u0000");
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Fisher–Yates, in place: every order equally likely for a uniform `random`. Returns `items`. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}
