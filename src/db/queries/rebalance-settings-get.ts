import { DEFAULT_REBALANCE } from "../../rebalance/profile.ts";
import type { RebalanceSettings } from "../../rebalance/types.ts";
import type { Queryable } from "./queryable.ts";

/**
 * The settings of a rebalancing scheduler as its workers registered them (omega.schedulers), over
 * the defaults; null when no scheduler of that name moves work.
 */
export async function rebalanceSettingsGet(
  db: Queryable,
  scheduler: string,
): Promise<RebalanceSettings | null> {
  const { rows } = await db.query<{ profile: { kind?: string; rebalance?: Partial<RebalanceSettings> } }>(
    "select profile from omega.schedulers where name = $1",
    [scheduler],
  );
  const profile = rows[0]?.profile;
  if (profile?.kind !== "rebalance") return null;
  return { ...DEFAULT_REBALANCE, ...profile.rebalance };
}
