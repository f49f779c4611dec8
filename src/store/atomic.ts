/**
 * Atomic, private file writes (ADR 0004): a temp file in the same directory opened
 * with O_EXCL and mode 0600, written, fsynced, renamed over the target, then the directory
 * fsynced so the rename itself is durable. Readers see the old file or the new one, never a
 * mix; a failure leaves the old file and no temp file behind.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SecretsError } from '../core/errors.js';

/** Prefix of temp files next to `path`; the writer's pid follows, so stale ones can be found. */
function tempPrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

/** Maps an fs error to a storage error with a useful hint. Never includes file contents. */
export function storageError(err: unknown, action: string, path: string): SecretsError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  const hints: Record<string, string> = {
    ENOSPC: 'the disk is full; free some space and run the command again (nothing was changed)',
    EDQUOT: 'the disk quota is exhausted; free some space and run the command again',
    EACCES: `check the permissions of ${dirname(path)} and ${path}`,
    EPERM: `check the permissions and attributes (chattr) of ${dirname(path)} and ${path}`,
    EROFS: 'the file system is read-only',
    EIO: 'the disk reported an I/O error',
    EEXIST: `${path} exists already; pick another path, or remove it first`,
  };
  return new SecretsError('STORAGE', `cannot ${action} ${path}: ${code}`, hints[code]);
}

/**
 * Writes `data` to `path` atomically with mode 0600. `replace` renames over whatever is there;
 * `create` links instead, so it fails with EEXIST rather than replace a file. `durable: false`
 * skips the fsyncs, for a cache whose reader checks what it reads and rebuilds what does not
 * check: a reader never sees a partial file, but a crash may lose the write.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, how: 'replace' | 'create' = 'replace', durable = true): void {
  const dir = dirname(path);
  const tmp = join(dir, `${tempPrefix(path)}${process.pid}-${randomBytes(6).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (how === 'replace') renameSync(tmp, path);
    else {
      linkSync(tmp, path);
      unlinkSync(tmp);
    }
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw storageError(err, 'write', path);
  }
  if (durable) fsyncDir(dir);
}

/** fsyncs a directory so a rename or create in it survives a crash. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (err) {
    throw storageError(err, 'sync directory', dir);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Removes temp files left next to `path` by writers that died (their pid is gone). */
export function removeStaleTemps(path: string): void {
  const prefix = tempPrefix(path);
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      try {
        unlinkSync(join(dirname(path), name));
      } catch {
        // another writer removed it
      }
    }
  }
}

/** True when a process with this pid exists on this host. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
