import { describe, expect, it } from "vitest";
import { PrincipalCache } from "../../src/api/principal-cache.ts";

const digest = (s: string) => Buffer.from(s.padEnd(32, "."));

describe("the principals an API remembers", () => {
  it("answers for a token until its time is up", () => {
    let now = 0;
    const cache = new PrincipalCache<string>(1_000, () => now);
    cache.set(digest("a"), "acme", cache.generation);
    now = 999;
    expect(cache.get(digest("a"))).toBe("acme");
    now = 1_000;
    expect(cache.get(digest("a"))).toBeUndefined();
  });

  it("forgets every token at once, and a lookup begun before that is not remembered", () => {
    const cache = new PrincipalCache<string>();
    cache.set(digest("a"), "acme", cache.generation);
    const begun = cache.generation;
    cache.clear();
    expect(cache.get(digest("a"))).toBeUndefined();
    // The old token's lookup ends after the rotation: its answer must not be kept.
    cache.set(digest("a"), "acme", begun);
    expect(cache.get(digest("a"))).toBeUndefined();
    cache.set(digest("b"), "beta", cache.generation);
    expect(cache.get(digest("b"))).toBe("beta");
  });

  it("keeps at most ten thousand tokens, the oldest going first", () => {
    const cache = new PrincipalCache<number>();
    for (let i = 0; i <= 10_000; i++) cache.set(digest(`t${i}`), i, cache.generation);
    expect(cache.get(digest("t0"))).toBeUndefined();
    expect(cache.get(digest("t1"))).toBe(1);
    expect(cache.get(digest("t10000"))).toBe(10_000);
  });
});
