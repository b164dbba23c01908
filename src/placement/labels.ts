/** A label's value, or undefined when the machine has no such label (inherited keys are not labels). */
export function labelOf(labels: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}
