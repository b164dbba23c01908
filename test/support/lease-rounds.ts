/**
 * Eight workers lease up to 7 jobs each at the same moment, round after round, holding what they
 * got, until a round leases nothing; returns every id leased. A lease skips rows another one has
 * locked (SKIP LOCKED), so a racing round may hand out fewer than it could: the next takes the rest.
 */
export async function leaseInRacingRounds(
  lease: (owner: string, limit: number) => Promise<number[]>,
): Promise<number[]> {
  const all: number[] = [];
  for (let round = 0; round < 20; round++) {
    const leases = await Promise.all(Array.from({ length: 8 }, (_, i) => lease(`w${i}`, 7)));
    const got = leases.flat();
    if (got.length === 0) break;
    all.push(...got);
  }
  return all;
}
