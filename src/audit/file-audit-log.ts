/**
 * FileAuditLog: the AuditTrail port over an append-only JSONL file per vault. An append takes the
 * log's lock, reads only the last line (O(1) in the log's size), writes one line with O_APPEND, and
 * fsyncs before it returns, so a value released after `append` has a durable event (fail-closed: a
 * read never releases a value whose event could be lost). `best-effort` mode turns a failed append
 * into a warning; it is an explicit opt-out.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEntry, AuditTrail } from '../core/ports.js';
import { SecretsError } from '../core/errors.js';
import type { Clock } from '../core/ports.js';
import { type FileAccess, type OpenFile, SYNC_FILES, syncDirectory } from '../store/file-access.js';
import { acquireLock } from '../store/lock.js';
import { type AuditEvent, auditLogPath, genesisHash, lineHash, serializeEvent } from './format.js';
import { lastAccess } from './reader.js';

/** Facts of this process that every event carries. */
export interface ProcessContext {
  readonly host: string;
  readonly pid: number;
  readonly user: string;
  readonly tty: boolean;
  readonly requestId: string;
}

/** `required` (fail-closed, the default) or `best-effort` (a failed append only warns). */
export type AuditMode = 'required' | 'best-effort';

export interface FileAuditLogOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly lockTimeoutMs: number;
  readonly context: ProcessContext;
  readonly mode: AuditMode;
  readonly warn: (message: string) => void;
  /** How the log is read, written and fsynced (default synchronous; the library passes ASYNC_FILES). */
  readonly files?: FileAccess;
}

/** A log held by this process: its lock, an open file and its tail. */
interface Held {
  readonly path: string;
  readonly lock: { release(): Promise<void> };
  readonly file: OpenFile;
  /** Device and inode of the file. */
  readonly id: string;
  size: number;
  seq: number;
  prev: string;
  /** True until the first event of a new log is written (its directory entry then needs an fsync). */
  fresh: boolean;
}

/** The last event of a log: its sequence number, line hash and the log's id. */
export interface LogTail {
  readonly log: string;
  readonly seq: number;
  readonly hash: string;
}

const CHUNK = 64 * 1024;

/** Reads the last complete line of an open file; trims a torn (unterminated) tail if asked. */
async function lastLine(file: OpenFile, size: number, repair: boolean): Promise<{ line: string | undefined; size: number }> {
  if (size === 0) return { line: undefined, size };
  let end = size;
  let buf = Buffer.alloc(0);
  let pos = size;
  // Find the end of the last complete line.
  const lastByte = Buffer.alloc(1);
  await file.read(lastByte, size - 1);
  if (lastByte[0] !== 0x0a) {
    // A torn append (the writer died before its fsync returned): that event never counted.
    while (pos > 0) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      await file.read(chunk, pos);
      const nl = chunk.lastIndexOf(0x0a);
      if (nl >= 0) {
        end = pos + nl + 1;
        break;
      }
      if (pos === 0) end = 0;
    }
    if (repair) await file.truncate(end);
    if (end === 0) return { line: undefined, size: end };
  }
  pos = end - 1; // the final newline
  for (;;) {
    const len = Math.min(CHUNK, pos);
    const start = pos - len;
    const chunk = Buffer.alloc(len);
    await file.read(chunk, start);
    buf = Buffer.concat([chunk, buf]);
    const nl = chunk.lastIndexOf(0x0a);
    if (nl >= 0 || start === 0) {
      const from = nl >= 0 ? nl + 1 : 0; // this chunk is at the start of buf
      return { line: buf.subarray(from, buf.length).toString('utf8'), size: end };
    }
    pos = start;
  }
}

async function readFirstLine(file: OpenFile): Promise<string | undefined> {
  const buf = Buffer.alloc(CHUNK);
  const n = await file.read(buf, 0);
  const nl = buf.subarray(0, n).indexOf(0x0a);
  return nl < 0 ? undefined : buf.subarray(0, nl).toString('utf8');
}

function auditError(err: unknown, path: string): SecretsError {
  // The lock's own errors are already SecretsErrors; keep the errno they name.
  const code = err instanceof SecretsError ? (/\b(E[A-Z]+)\b/.exec(err.message)?.[1] ?? err.code) : ((err as NodeJS.ErrnoException).code ?? 'error');
  return new SecretsError(
    'AUDIT_UNAVAILABLE',
    `cannot append to the audit log ${path}: ${code}; nothing was released`,
    'free space or fix the permissions of the audit directory; `--audit best-effort` (or "audit": "best-effort" in config.json) opts out',
  );
}

/** The audit trail as one JSONL file per vault. */
export class FileAuditLog implements AuditTrail {
  readonly #opts: FileAuditLogOptions;
  readonly #files: FileAccess;
  /** Directories known to exist (a busy writer need not ask again). */
  readonly #made = new Set<string>();
  /**
   * What this process last appended to each log: the file (device and inode), its size after the
   * append, and the last event's sequence number and hash. Under the lock, a log of that same
   * file and size has not been touched since, so its tail need not be read again.
   */
  readonly #tails = new Map<string, { file: string; size: number; seq: number; hash: string }>();

  constructor(opts: FileAuditLogOptions) {
    this.#opts = opts;
    this.#files = opts.files ?? SYNC_FILES;
  }

  path(vaultId: string): string {
    return auditLogPath(this.#opts.dir, vaultId);
  }

  async append(entry: AuditEntry): Promise<void> {
    await this.appendAll([entry]);
  }

  async appendAll(entries: readonly AuditEntry[]): Promise<void> {
    const first = entries[0];
    if (!first) return;
    const path = this.path(first.vaultId);
    if (entries.some((e) => e.vaultId !== first.vaultId)) throw new Error('appendAll: one vault at a time');
    try {
      await this.#append(path, entries);
    } catch (err) {
      const error = auditError(err, path);
      if (this.#opts.mode === 'best-effort') {
        this.#opts.warn(`${error.message.replace(/; nothing was released$/, '')} (audit is best-effort: continuing)`);
        return;
      }
      throw error;
    }
  }

  async #append(path: string, entries: readonly AuditEntry[]): Promise<void> {
    const held = await this.#open(path, (entries[0] as AuditEntry).vaultId);
    try {
      await this.#write(held, entries);
    } finally {
      await this.#close(held);
    }
  }

  /** Takes the log's lock, opens it and finds its tail (from memory when this process wrote it last). */
  async #open(path: string, vaultId: string): Promise<Held> {
    const files = this.#files;
    if (!this.#made.has(dirname(path))) {
      await files.mkdir(dirname(path), 0o700);
      this.#made.add(dirname(path));
    }
    const lock = await acquireLock(`${path}.lock`, this.#opts.lockTimeoutMs, files);
    let file: OpenFile | undefined;
    try {
      file = await files.open(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
      const st = await file.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      const id = `${st.dev}:${st.ino}`;
      const known = this.#tails.get(path);
      if (known !== undefined && known.file === id && known.size === Number(st.size)) {
        return { path, lock, file, id, size: known.size, seq: known.seq, prev: known.hash, fresh: false };
      }
      const { line, size } = await lastLine(file, Number(st.size), true);
      if (line === undefined) return { path, lock, file, id, size, seq: 0, prev: genesisHash(vaultId), fresh: true };
      const last = JSON.parse(line) as { seq?: unknown };
      if (typeof last.seq !== 'number') throw Object.assign(new Error('damaged log'), { code: 'EBADMSG' });
      return { path, lock, file, id, size, seq: last.seq, prev: lineHash(line), fresh: false };
    } catch (err) {
      await file?.close();
      await lock.release();
      throw err;
    }
  }

  /** Appends events to a held log and fsyncs it; the events are durable when it returns. */
  async #write(held: Held, entries: readonly AuditEntry[]): Promise<void> {
    const c = this.#opts.context;
    const now = this.#opts.clock.now().toISOString();
    let { seq, prev } = held;
    const lines: string[] = [];
    for (const entry of entries) {
      seq++;
      const event: AuditEvent = {
        seq,
        eventTime: now,
        ...entry,
        host: c.host,
        pid: c.pid,
        user: c.user,
        tty: c.tty,
        requestId: entry.requestId ?? c.requestId,
        ...(seq === 1 ? { log: randomBytes(8).toString('hex') } : {}),
        prev,
      };
      const text = serializeEvent(event);
      lines.push(`${text}\n`);
      prev = lineHash(text);
    }
    const bytes = Buffer.from(lines.join(''), 'utf8');
    this.#tails.delete(held.path);
    await held.file.write(bytes);
    await held.file.sync();
    if (held.fresh) await syncDirectory(this.#files, dirname(held.path));
    held.fresh = false;
    held.seq = seq;
    held.prev = prev;
    held.size += bytes.length;
    this.#tails.set(held.path, { file: held.id, size: held.size, seq, hash: prev });
  }

  async #close(held: Held): Promise<void> {
    try {
      await held.file.close();
    } finally {
      await held.lock.release();
    }
  }

  /**
   * Holds the log of `vaultId` (its lock and an open file) while `body` appends batch after
   * batch, each written and fsynced at once, without taking the lock or reading the tail again
   * (a busy server's group commit). Another writer waits for the lock meanwhile, so `body`
   * should return within milliseconds. Failures are reported as `appendAll` reports them.
   */
  async hold<T>(vaultId: string, body: (append: (entries: readonly AuditEntry[]) => Promise<void>) => Promise<T>): Promise<T> {
    const path = this.path(vaultId);
    let held: Held | undefined;
    try {
      held = await this.#open(path, vaultId);
    } catch (err) {
      const error = auditError(err, path);
      if (this.#opts.mode !== 'best-effort') throw error;
      this.#opts.warn(`${error.message.replace(/; nothing was released$/, '')} (audit is best-effort: continuing)`);
      return body(async () => undefined);
    }
    const open = held;
    let broken: SecretsError | undefined;
    try {
      return await body(async (entries) => {
        if (entries.length === 0) return;
        if (entries.some((e) => e.vaultId !== vaultId)) throw new Error('hold: one vault at a time');
        if (broken) {
          if (this.#opts.mode === 'best-effort') return;
          throw broken;
        }
        try {
          await this.#write(open, entries);
        } catch (err) {
          const error = auditError(err, path);
          // A failed write leaves the file in an unknown state: nothing more goes through this hold.
          broken = error;
          if (this.#opts.mode === 'best-effort') {
            this.#opts.warn(`${error.message.replace(/; nothing was released$/, '')} (audit is best-effort: continuing)`);
            return;
          }
          throw error;
        }
      });
    } finally {
      await this.#close(open).catch(() => undefined);
    }
  }

  async lastAccess(vaultId: string, secretId: string): Promise<string | undefined> {
    return lastAccess(this.path(vaultId), secretId);
  }

  /** The log's last event, for the vault head's anchor; undefined if there is no log yet. */
  async tail(vaultId: string): Promise<LogTail | undefined> {
    const path = this.path(vaultId);
    let file: OpenFile | undefined;
    try {
      file = await this.#files.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = await file.stat();
      if (!st.isFile()) return undefined;
      const { line } = await lastLine(file, Number(st.size), false);
      const first = await readFirstLine(file);
      if (line === undefined || first === undefined) return undefined;
      const log = (JSON.parse(first) as { log?: unknown }).log;
      const seq = (JSON.parse(line) as { seq?: unknown }).seq;
      if (typeof log !== 'string' || typeof seq !== 'number') return undefined;
      return { log, seq, hash: lineHash(line) };
    } catch {
      return undefined;
    } finally {
      await file?.close();
    }
  }
}
