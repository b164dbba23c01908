/** What the scheduler needs from the placement core (pure: no I/O, no pg). */
export { explain, formatExplanation } from "./explain.ts";
export { InFlight } from "./inflight.ts";
export { activeStages, effectiveSampleSize, planJob, SCORERS, STAGES, type Stage } from "./pipeline.ts";
export { batchProfile, builtinProfiles, type SchedulerProfile, serviceProfile } from "./profiles.ts";
export { mulberry32, seedFrom, shuffle } from "./random.ts";
export type * from "./types.ts";
