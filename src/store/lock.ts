/**
 * An exclusive lock for the vault file: `<vault>.lock`, created with O_EXCL, holding the owner's
 * pid, host and start time. A lock whose owner died on this host is broken, but only under a second
 * O_EXCL "breaker" lock and only if it still names the same dead owner, so two waiters can never
 * both break a lock or break a fresh one (the races ADR 0004 lists for proper-lockfile).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { hostname } from 'node:os';
import { SecretsError } from '../core/errors.js';
import { isAlive, storageError } from './atomic.js';
import { type FileAccess, type OpenFile, SYNC_FILES } from './file-access.js';

/** How long a breaker lock may exist before it is presumed abandoned. */
const BREAKER_STALE_MS = 2_000;

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

async function readOwner(files: FileAccess, path: string): Promise<Owner | undefined> {
  try {
    const owner = JSON.parse((await files.readFile(path)).toString('utf8')) as Partial<Owner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.token === 'string') {
      return { pid: owner.pid, host: owner.host, token: owner.token };
    }
  } catch {
    // missing, or being written right now
  }
  return undefined;
}

async function tryCreate(files: FileAccess, path: string, owner: Owner): Promise<boolean> {
  let file: OpenFile;
  try {
    file = await files.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw storageError(err, 'create lock file', path);
  }
  try {
    await file.write(Buffer.from(JSON.stringify(owner)));
  } catch (err) {
    // A full disk: leave no empty lock behind for the next command to wait on.
    await file.close();
    try {
      await files.unlink(path);
    } catch {
      // gone already
    }
    throw storageError(err, 'write lock file', path);
  }
  await file.close();
  return true;
}

async function removeIfOwnedBy(files: FileAccess, path: string, token: string): Promise<void> {
  if ((await readOwner(files, path))?.token === token) {
    try {
      await files.unlink(path);
    } catch {
      // gone already
    }
  }
}

async function ageMs(files: FileAccess, path: string): Promise<number> {
  try {
    return Date.now() - (await files.stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}

/** Breaks `path` if `stillStale` holds for it under the breaker lock. */
async function breakStale(files: FileAccess, path: string, stillStale: () => Promise<boolean>): Promise<void> {
  const breaker = `${path}.break`;
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
  if (!(await tryCreate(files, breaker, me))) {
    const other = await readOwner(files, breaker);
    const abandoned = other ? other.host === me.host && !isAlive(other.pid) : (await ageMs(files, breaker)) > BREAKER_STALE_MS;
    if (abandoned && (await ageMs(files, breaker)) > BREAKER_STALE_MS) {
      try {
        await files.unlink(breaker);
      } catch {
        // someone else did
      }
    }
    return;
  }
  try {
    if (await stillStale()) await files.unlink(path);
  } catch {
    // gone already
  } finally {
    await removeIfOwnedBy(files, breaker, me.token);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A held lock. */
export interface Lock {
  release(): Promise<void>;
}

/**
 * Waits up to `timeoutMs` for the lock at `path`; throws LOCKED (exit 4) after that. The waits
 * are timers either way; `files` decides whether the lock file's own I/O blocks the loop.
 */
export async function acquireLock(path: string, timeoutMs: number, files: FileAccess = SYNC_FILES): Promise<Lock> {
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    if (await tryCreate(files, path, me)) {
      return { release: () => removeIfOwnedBy(files, path, me.token) };
    }
    const owner = await readOwner(files, path);
    if (owner && owner.host === me.host && !isAlive(owner.pid)) {
      await breakStale(files, path, async () => (await readOwner(files, path))?.token === owner.token);
      await sleep(1);
      continue;
    }
    if (!owner && (await ageMs(files, path)) > BREAKER_STALE_MS) {
      // An empty or garbled lock file that nobody is finishing: its writer died mid-write.
      await breakStale(files, path, async () => !(await readOwner(files, path)) && (await ageMs(files, path)) > BREAKER_STALE_MS);
      await sleep(1);
      continue;
    }
    if (Date.now() > deadline) {
      const who = owner ? `process ${owner.pid} on ${owner.host}` : 'another process';
      throw new SecretsError('LOCKED', `the vault is locked by ${who}`, `wait for it to finish; if no secrets command is running, remove ${path}`);
    }
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 50);
  }
}
