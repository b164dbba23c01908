import { SingleBar } from "cli-progress";

export interface Progress {
  update(value: number): void;
  stop(): void;
}

/**
 * A progress bar on long phases (on a terminal only: in CI and tests, where stdout is not a TTY,
 * cli-progress prints nothing).
 */
export function progress(label: string, total: number, unit: string): Progress {
  const bar = new SingleBar({
    format: `${label} {bar} {value}/{total} ${unit} | {duration}s`,
    hideCursor: true,
    clearOnComplete: false,
  });
  bar.start(total, 0);
  return {
    update: (value) => bar.update(value),
    stop: () => bar.stop(),
  };
}
