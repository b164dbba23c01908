import type { FilterResult, RejectionReason } from "../types.ts";

// Shared, frozen results: the per-task filters run millions of times a second and must not allocate.
export const PASS: FilterResult = Object.freeze({ ok: true });

const rejections = new Map<RejectionReason, FilterResult>();

/** The (shared) rejection for a reason. */
export function reject(reason: RejectionReason): FilterResult {
  let result = rejections.get(reason);
  if (!result) {
    result = Object.freeze({ ok: false, reason });
    rejections.set(reason, result);
  }
  return result;
}
