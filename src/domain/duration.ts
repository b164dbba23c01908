/** The longest duration accepted anywhere (a year, in ms): the bound omega.parse_duration_ms checks. */
export const MAX_DURATION_MS = 31_536_000_000;

const PATTERN = /^(\d{1,9})(?:\.(\d{1,3}))?(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A duration such as "500ms", "30s", "1.5m" or "2h", in whole milliseconds (rounded up), or
 * undefined when it is not one. The same rules as omega.parse_duration_ms.
 */
export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text);
  if (!match) return undefined;
  const [, whole = "0", fraction = "", unit = ""] = match;
  const perUnit = UNIT_MS[unit] ?? Number.NaN;
  // Whole and fractional parts apart, in integers: 0.1 * 1000 is not 100 in floating point.
  const ms = Number(whole) * perUnit + Math.ceil((Number(fraction || "0") * perUnit) / 10 ** fraction.length);
  return ms <= MAX_DURATION_MS ? ms : undefined;
}
