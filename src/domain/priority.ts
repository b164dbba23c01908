/**
 * Priority bands (Borg): best-effort 0–99 (no quota, always preemptible), batch 100–199,
 * production 200–999 (never preempted by production). Band names stand for a number in the band.
 */
export const BANDS = { "best-effort": 50, batch: 150, production: 250 } as const;
export type Band = keyof typeof BANDS;

export function bandOf(priority: number): Band {
  if (priority < 100) return "best-effort";
  if (priority < 200) return "batch";
  return "production";
}
