import { readFileSync } from "node:fs";

/** Whether `pid` is a running process (a zombie, dead but not yet reaped, is not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc (not Linux): kill(0) said yes
  }
}

/** The parent of `pid` and its command line, from /proc (Linux); undefined elsewhere. */
function parentOf(pid: number): { ppid: number; cmdline: string } | undefined {
  try {
    // The command name (field 2) may hold spaces and parentheses: read after its last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    return { ppid, cmdline };
  } catch {
    return undefined;
  }
}

/**
 * The processes `npm start` (or `npm run`, `npx`) put between the user and us: npm itself and the
 * shell it runs the script in. A service manager or `kill $!` signals the outermost (npm); npm
 * forwards the signal to its shell at best, and the shell does not forward it to us — so we watch
 * them all, and a gone ancestor means stop. Empty when not started by npm: a plain `omega start`
 * must keep running when the terminal that launched it with `&` goes away.
 */
export function npmAncestors(): number[] {
  if (!process.env.npm_lifecycle_event && !process.env.npm_command) return [];
  const chain: number[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 8; ) {
    const info = parentOf(pid);
    if (!info) break;
    chain.push(pid);
    // npm's own process is the last one to watch: above it is the user's shell or supervisor.
    if (/(^|[/ ])(npm|npx)(-cli\.js)?( |$)|npm-cli\.js|npx-cli\.js/.test(info.cmdline)) break;
    pid = info.ppid;
  }
  return chain;
}

/** Calls `onGone` once when any of `pids` has exited. Polls: no API tells us of a non-child's death. */
export function watchAncestors(pids: readonly number[], onGone: (pid: number) => void): () => void {
  if (pids.length === 0) return () => {};
  const timer = setInterval(() => {
    const gone = pids.find((pid) => !isAlive(pid));
    if (gone !== undefined) {
      clearInterval(timer);
      onGone(gone);
    }
  }, 250);
  timer.unref();
  return () => clearInterval(timer);
}
