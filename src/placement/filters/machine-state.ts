import type { Filter } from "../types.ts";
import { PASS, reject } from "./result.ts";

/** New work goes only to `up` machines: `draining` ones are emptying, `down` ones are gone. */
export const machineState: Filter = (machine) => (machine.state === "up" ? PASS : reject("machine not up"));
