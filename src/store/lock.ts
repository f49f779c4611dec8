/**
 * An exclusive lock for the vault file: `<vault>.lock`, created with O_EXCL, holding the owner's
 * pid, host and start time. A lock whose owner died on this host is broken, but only under a second
 * O_EXCL "breaker" lock and only if it still names the same dead owner, so two waiters can never
 * both break a lock or break a fresh one (the races ADR 0004 lists for proper-lockfile).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { SecretsError } from '../core/errors.js';
import { isAlive, storageError } from './atomic.js';

/** How long a breaker lock may exist before it is presumed abandoned. */
const BREAKER_STALE_MS = 2_000;

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

function readOwner(path: string): Owner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.token === 'string') {
      return { pid: owner.pid, host: owner.host, token: owner.token };
    }
  } catch {
    // missing, or being written right now
  }
  return undefined;
}

function tryCreate(path: string, owner: Owner): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw storageError(err, 'create lock file', path);
  }
  try {
    writeSync(fd, JSON.stringify(owner));
  } catch (err) {
    // A full disk: leave no empty lock behind for the next command to wait on.
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
    throw storageError(err, 'write lock file', path);
  }
  closeSync(fd);
  return true;
}

function removeIfOwnedBy(path: string, token: string): void {
  if (readOwner(path)?.token === token) {
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Breaks `path` if `stillStale` holds for it under the breaker lock. */
function breakStale(path: string, stillStale: () => boolean): void {
  const breaker = `${path}.break`;
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
  if (!tryCreate(breaker, me)) {
    const other = readOwner(breaker);
    const abandoned = other ? other.host === me.host && !isAlive(other.pid) : ageMs(breaker) > BREAKER_STALE_MS;
    if (abandoned && ageMs(breaker) > BREAKER_STALE_MS) {
      try {
        unlinkSync(breaker);
      } catch {
        // someone else did
      }
    }
    return;
  }
  try {
    if (stillStale()) unlinkSync(path);
  } catch {
    // gone already
  } finally {
    removeIfOwnedBy(breaker, me.token);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A held lock. */
export interface Lock {
  release(): void;
}

/** Waits up to `timeoutMs` for the lock at `path`; throws LOCKED (exit 4) after that. */
export async function acquireLock(path: string, timeoutMs: number): Promise<Lock> {
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    if (tryCreate(path, me)) {
      return { release: () => removeIfOwnedBy(path, me.token) };
    }
    const owner = readOwner(path);
    if (owner && owner.host === me.host && !isAlive(owner.pid)) {
      breakStale(path, () => readOwner(path)?.token === owner.token);
      await sleep(1);
      continue;
    }
    if (!owner && ageMs(path) > BREAKER_STALE_MS) {
      // An empty or garbled lock file that nobody is finishing: its writer died mid-write.
      breakStale(path, () => !readOwner(path) && ageMs(path) > BREAKER_STALE_MS);
      await sleep(1);
      continue;
    }
    if (Date.now() > deadline) {
      const who = owner ? `process ${owner.pid} on ${owner.host}` : 'another process';
      throw new SecretsError(
        'LOCKED',
        `the vault is locked by ${who}`,
        `wait for it to finish; if no secrets command is running, remove ${path}`,
      );
    }
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 50);
  }
}
