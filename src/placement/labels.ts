import type { MachineView } from "./types.ts";

/** A label's value, or undefined when the machine has no such label (inherited keys are not labels). */
export function labelOf(labels: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/** A machine's domain for a topology key: its label value, or its id for `machine`. As omega.domain_of. */
export function domainOf(machine: MachineView, key: string): string | undefined {
  return key === "machine" ? String(machine.id) : labelOf(machine.labels, key);
}
