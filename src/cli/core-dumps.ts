/**
 * Keeps secret values out of core files. Node cannot call setrlimit(RLIMIT_CORE) or
 * prctl(PR_SET_DUMPABLE), but on Linux a process may write its own coredump_filter: with 0,
 * a core file of this process holds registers and notes and no memory mapping, so no key or
 * value. The filter is inherited by children, so the program `exec` runs gets the user's own
 * filter written back into its /proc entry right after the spawn; this process never holds a
 * non-zero filter. Elsewhere (macOS, no /proc) this does nothing.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const FILTER = '/proc/self/coredump_filter';

/** The filter this process started with, as 0x…, once cleared. */
let original: string | undefined;

/** Writes the filter; returns what it was. One open, pread and pwrite: readFileSync costs 5 times as much at start-up. */
function swapFilter(value: string): string {
  // r+: the file exists; never create or truncate anything.
  const fd = openSync(FILTER, 'r+');
  try {
    const buf = Buffer.alloc(32);
    const was = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).trim();
    writeSync(fd, value, 0);
    return was;
  } finally {
    closeSync(fd);
  }
}

/** Makes core files of this process hold no memory, where the platform allows it; never throws. */
export function excludeMemoryFromCoreDumps(): void {
  try {
    // The kernel prints hex without 0x and reads with C rules (a leading 0 is octal): say 0x.
    original = `0x${swapFilter('0')}`;
  } catch {
    // not Linux, or /proc is not mounted: nothing to do
  }
}

/**
 * Gives a child just spawned the filter the user had, so its core files are its own. This
 * process keeps 0 throughout: the child runs with 0 for the instant before this write, which
 * only costs it the memory of a core dumped in that instant.
 */
export function restoreCoreDumpFilter(pid: number | undefined): void {
  if (original === undefined || pid === undefined) return;
  try {
    const fd = openSync(`/proc/${pid}/coredump_filter`, 'r+');
    try {
      writeSync(fd, original, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the child already exited, or /proc is not ours to write: its cores hold no memory
  }
}
