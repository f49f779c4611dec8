/**
 * The format-2 vault file as an append-only log (docs/decisions/0018-operation-log.md §1, §4, §6).
 *
 * - Reading: from the start or from a byte offset a reader verified before, so it parses only
 *   what was appended since. Each line is hashed (h = SHA-256 of its JSON bytes) and parsed by
 *   the strict codec. The store checks what needs neither state nor links: the header, the line
 *   framing, the codec, `state` lines only in the run a checkpoint closes, each payload named by
 *   the entry that closes its run, a genesis at all. Links and whether the payloads an entry
 *   names are there are replay's (core/replay.ts), which gets `replayInput(read)`.
 * - Non-entry lines (payloads, state) are committed by the entry after them. A trailing run of
 *   payload lines with no entry after it is a write in progress or a torn one, and so is a last
 *   line without its newline: readers ignore both, and the next writer truncates exactly those
 *   bytes, under the lock.
 * - Appending: under the lock (store/lock.ts), on an `O_APPEND | O_NOFOLLOW` descriptor, the
 *   payload lines then the entry in one write, then fsync.
 * - `pread` of one payload by its position, checked against its hash.
 * - Compaction replaces the whole file through the atomic rename (store/atomic.ts).
 */
import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { SecretsError } from '../core/errors.js';
import { type Entry, type LogEntry, type Payload, payloadsOf } from '../core/ops.js';
import type { ReplayInput } from '../core/replay.js';
import { removeStaleTemps, storageError, writeFileAtomic } from './atomic.js';
import { damaged, MAX_FILE_BYTES, MAX_LINE_BYTES } from './codec.js';
import { type FileAccess, type OpenFile, STEP_BYTES, SYNC_FILES } from './file-access.js';
import { acquireLock } from './lock.js';
import { encodeLine, HEADER_LINE_V2, isEntry, type Line, lineHash, parseLine, type StateLine } from './op-codec.js';

const NL = 0x0a;
const HEADER = Buffer.from(`${HEADER_LINE_V2}\n`);
const LINE_PREFIX = Buffer.from('- ');
const VALUE_PREFIX = Buffer.from('- {"kind":"value",');
const KEYS_PREFIX = Buffer.from('- {"kind":"keys",');

/** Where a line is: the byte offset of its `- ` and its length without the newline, and its number. */
export interface LinePosition {
  readonly offset: number;
  readonly length: number;
  readonly line: number;
}

/** An entry as read: named by its hash, with its place in the file. */
export interface PositionedEntry extends LogEntry {
  readonly place: LinePosition;
}

/** A payload line as read: where it is, its kind, and (unless only indexed) its content. */
export interface PayloadAt {
  readonly place: LinePosition;
  readonly kind: Payload['kind'];
  readonly payload?: Payload;
}

/** What one read found. */
export interface LogRead {
  /** The offset and line number the read started at. */
  readonly from: number;
  readonly fromLine: number;
  /** Just past the last complete entry's newline: where a reader's verification stops, and where the next write goes. */
  readonly end: number;
  /** The line number of the line at `end`. */
  readonly endLine: number;
  /** Entries from `from` to `end`, in file order. */
  readonly entries: readonly PositionedEntry[];
  /** Payloads from `from` to `end` by h(line); a payload that occurs twice is indexed at its first place. */
  readonly payloads: ReadonlyMap<string, PayloadAt>;
  /** `state` lines (only in a compacted file, in the run its checkpoint closes). */
  readonly states: readonly StateLine[];
  /**
   * SHA-256 (base64) of the `state` lines as the file holds them (`- …\n` each), hashed as they
   * were read: what a checkpoint's `state` digest covers. Each line was parsed, so it is
   * canonical and this equals the digest of the parsed lines. Absent unless one run holds them.
   */
  readonly statesDigest?: string;
  /** Bytes after `end` that readers ignore: a trailing run of payloads and a torn last line. */
  readonly ignored: number;
  /** The file's device and inode when read, so a writer can tell it still has the same file. */
  readonly file: string;
}

/**
 * How much of a payload a read keeps: parsed (default); or only hashed and indexed, parsed when
 * `pread`; or `named`: those an entry names are parsed, and a compacted file's (named by its
 * `state` lines, closed by its checkpoint) only indexed.
 */
export type PayloadMode = 'parse' | 'index' | 'named';

/** Where a read starts: the start of the file, or a line boundary a reader verified before. */
export interface ReadFrom {
  readonly offset: number;
  readonly line: number;
}

/** What a writer appends: payload lines, then the entry that binds them. */
export interface AppendBatch {
  readonly payloads: readonly Payload[];
  readonly entry: Entry;
}

/** An entry a reader or writer verified, and where it is: later reads and appends resume after it. */
export interface Tail {
  readonly hash: string;
  readonly place: LinePosition;
}

/** What an append wrote: the last entry's hash and place (a Tail to resume after), every entry's and payload's hash. */
export interface Appended extends Tail {
  readonly entries: readonly string[];
  readonly payloads: readonly string[];
  /** The offset the batch starts at (the log's end before it) and the new end. */
  readonly offset: number;
  readonly end: number;
  /** The line number at `end`. */
  readonly endLine: number;
  /** Bytes of a torn or abandoned write that this writer truncated first. */
  readonly truncated: number;
}

/** Options of the log store. */
export interface OpLogOptions {
  readonly path: string;
  readonly lockTimeoutMs: number;
  /** How the file is reached (default synchronous; the library passes ASYNC_FILES). */
  readonly files?: FileAccess;
}

const HINT_RESTORE = 'the file was not changed; restore it from a backup or from git, then run `secrets doctor`';

function lineText(line: Line): Buffer {
  return Buffer.from(`- ${encodeLine(line)}\n`);
}

/** A line's JSON cut out of `buf` at `place`, checked against `hash`; or why not. */
function lineIn(buf: Buffer, hash: string, place: LinePosition): Buffer | string {
  const end = place.offset + place.length;
  if (end >= buf.length) return `the file ends inside line ${place.line}`;
  if (!startsWith(buf, place.offset, LINE_PREFIX) || buf[end] !== NL) return `line ${place.line} is not where it was`;
  const json = buf.subarray(place.offset + LINE_PREFIX.length, end);
  return lineHash(json) === hash ? json : `line ${place.line} does not hash to ${hash}`;
}

/** The bytes of a new file: the header and these lines (the genesis and its payloads). */
export function serializeLog(lines: readonly Line[]): Buffer {
  return Buffer.concat([HEADER, ...lines.map(lineText)]);
}

function identityOf(st: { dev: bigint; ino: bigint }): string {
  return `${st.dev}:${st.ino}`;
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  return buf.length - at >= prefix.length && buf.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;
}

/**
 * Parses `buf`, the file's bytes from `from` on (a line boundary, `line` its number). Pure but
 * for the pauses `files` makes between steps. DAMAGED_VAULT names the first bad line.
 */
async function parseLog(buf: Buffer, from: ReadFrom, mode: PayloadMode, files: FileAccess): Promise<Omit<LogRead, 'file'>> {
  let pos = 0;
  let lineNo = from.line;
  if (from.offset === 0) {
    if (!startsWith(buf, 0, HEADER)) throw damaged(1, 'missing or altered header line (is this a format-2 secrets vault?)');
    pos = HEADER.length;
    lineNo = 2;
  }
  const entries: PositionedEntry[] = [];
  const payloads = new Map<string, PayloadAt>();
  const states: StateLine[] = [];
  let run: { hash: string; payload: PayloadAt }[] = [];
  let runStates: StateLine[] = [];
  let stateHash: Hash | undefined;
  let stateRuns = 0;
  let end = pos;
  let endLine = lineNo;
  let sincePause = 0;
  for (;;) {
    const nl = buf.indexOf(NL, pos);
    if (nl < 0) break;
    const place: LinePosition = { offset: from.offset + pos, length: nl - pos, line: lineNo };
    if (nl - pos > MAX_LINE_BYTES) throw damaged(lineNo, 'line is larger than the 1 MiB limit');
    if (!startsWith(buf, pos, LINE_PREFIX)) throw damaged(lineNo, 'not a record line');
    const json = buf.subarray(pos + LINE_PREFIX.length, nl);
    if (!isUtf8(json)) throw damaged(lineNo, 'line is not UTF-8');
    const hash = lineHash(json);
    if (mode !== 'parse' && (startsWith(buf, pos, VALUE_PREFIX) || startsWith(buf, pos, KEYS_PREFIX))) {
      run.push({ hash, payload: { place, kind: startsWith(buf, pos, VALUE_PREFIX) ? 'value' : 'keys' } });
    } else {
      const line = parseLine(json.toString('utf8'), lineNo);
      if (isEntry(line)) {
        if (runStates.length > 0 && line.kind !== 'checkpoint') throw damaged(lineNo, '`state` lines that no checkpoint closes');
        const unnamed = unnamedPayload(run, line, runStates);
        if (unnamed !== undefined) throw damaged(unnamed, 'a payload that the entry after it does not name (a line moved, swapped or added)');
        if (mode === 'named' && line.kind !== 'checkpoint') run = run.map((p) => parsedIn(buf, from.offset, p));
        for (const p of run) if (!payloads.has(p.hash)) payloads.set(p.hash, p.payload);
        if (runStates.length > 0) stateRuns++;
        states.push(...runStates);
        run = [];
        runStates = [];
        entries.push({ hash, entry: line, place });
        end = nl + 1;
        endLine = lineNo + 1;
      } else if (line.kind === 'state') {
        runStates.push(line);
        (stateHash ??= createHash('sha256')).update(buf.subarray(pos, nl + 1));
      } else run.push({ hash, payload: { place, kind: line.kind, payload: line } });
    }
    sincePause += nl + 1 - pos;
    if (sincePause >= STEP_BYTES) {
      sincePause = 0;
      await files.pause();
    }
    pos = nl + 1;
    lineNo++;
  }
  // Appends never write `state` lines: a trailing run holding one is not a torn write.
  if (runStates.length > 0) throw damaged(endLine, '`state` lines that no checkpoint closes');
  // A vault file is created with its genesis (linked whole from a temp file): without one it was cut.
  if (from.offset === 0 && entries.length === 0) throw damaged(endLine, 'no complete entry: a vault file begins with its genesis');
  return {
    from: from.offset,
    fromLine: from.line,
    end: from.offset + end,
    endLine,
    entries,
    payloads,
    states,
    ...(stateRuns === 1 && stateHash !== undefined ? { statesDigest: stateHash.digest('base64') } : {}),
    ignored: buf.length - end,
  };
}

/**
 * The line of the first payload in `run` that `entry` (the entry closing the run) does not name:
 * every writer puts a write's payload lines right before its entry, and a compaction the
 * payloads of its `state` lines before the checkpoint. A payload anywhere else was moved there
 * (its hash still binds its content, but the file is not what any writer wrote).
 */
function unnamedPayload(run: readonly { hash: string; payload: PayloadAt }[], entry: Entry, states: readonly StateLine[]): number | undefined {
  if (run.length === 0) return undefined;
  const named = new Set(payloadsOf(entry).map((r) => r.hash));
  for (const s of states) for (const v of s.versions) named.add(v.v).add(v.k);
  return run.find((p) => !named.has(p.hash))?.payload.place.line;
}

/** A payload of `run`, read only as an index so far, parsed from the read's buffer (which starts at `offset` of the file). */
function parsedIn(buf: Buffer, offset: number, p: { hash: string; payload: PayloadAt }): { hash: string; payload: PayloadAt } {
  if (p.payload.payload !== undefined) return p;
  const { place } = p.payload;
  const start = place.offset - offset + LINE_PREFIX.length;
  const line = parseLine(buf.toString('utf8', start, place.offset - offset + place.length), place.line);
  if (line.kind !== 'value' && line.kind !== 'keys') throw damaged(place.line, 'not a payload line');
  return { hash: p.hash, payload: { ...p.payload, payload: line } };
}

/** The entries and payloads of a read as replay takes them; a payload read only as an index is there by its kind. */
export function replayInput(read: LogRead): ReplayInput {
  const payloads = new Map<string, Payload>();
  const indexed = new Map<string, Payload['kind']>();
  for (const [hash, p] of read.payloads) {
    if (p.payload !== undefined) payloads.set(hash, p.payload);
    else indexed.set(hash, p.kind);
  }
  return {
    entries: read.entries.map(({ hash, entry }) => ({ hash, entry })),
    payloads,
    states: read.states.map(({ kind: _kind, ...s }) => s),
    ...(indexed.size > 0 ? { indexed } : {}),
    ...(read.statesDigest !== undefined ? { statesDigest: read.statesDigest } : {}),
  };
}

/**
 * Parses a whole log held in memory (a copy git gives the merge driver, a remote's blob) as
 * `read` parses the file; `file` is empty.
 */
export async function readLogBytes(bytes: Buffer): Promise<LogRead> {
  return { ...(await parseLog(bytes, { offset: 0, line: 1 }, 'parse', SYNC_FILES)), file: '' };
}

/** The format-2 vault file. */
export class OpLog {
  readonly #opts: OpLogOptions;
  readonly #files: FileAccess;

  constructor(opts: OpLogOptions) {
    this.#opts = opts;
    this.#files = opts.files ?? SYNC_FILES;
  }

  /** The vault file's path. */
  get path(): string {
    return this.#opts.path;
  }

  /**
   * Creates the file with the header and `lines` (the genesis, after its payloads if any). Never
   * replaces a file: the bytes go to a private temp file first, which is then linked to the path
   * (EEXIST if anything is there), so a crash leaves no vault or a whole one.
   */
  create(lines: readonly Line[]): void {
    const last = lines[lines.length - 1];
    if (last === undefined || !isEntry(last)) throw new SecretsError('INTERNAL', 'a new log must end with an entry');
    writeFileAtomic(this.#opts.path, serializeLog(lines), 'create');
  }

  async #open(flags: number): Promise<OpenFile> {
    const path = this.#opts.path;
    try {
      return await this.#files.open(path, flags | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new SecretsError('VAULT_NOT_FOUND', `no vault at ${path}`, 'create one with `secrets init`, or point --vault / SECRETS_VAULT at yours');
      if (code === 'ELOOP') throw new SecretsError('STORAGE', `${path} is a symbolic link`, 'point --vault / SECRETS_VAULT at the vault file itself');
      throw storageError(err, 'open', path);
    }
  }

  /** Reads the open file from `from` to its end. */
  async #readOpen(file: OpenFile, from: ReadFrom, mode: PayloadMode): Promise<LogRead> {
    const st = await file.stat();
    if (!st.isFile()) throw new SecretsError('STORAGE', `${this.#opts.path} is not a file`);
    const size = Number(st.size);
    if (size > MAX_FILE_BYTES) throw new SecretsError('DAMAGED_VAULT', `vault file ${this.#opts.path} is larger than 1 GiB`, HINT_RESTORE);
    if (from.offset > size)
      throw new SecretsError('INTEGRITY', `vault file ${this.#opts.path} is shorter than the ${from.offset} bytes verified before`, HINT_RESTORE);
    // One byte before `from` must end a line: a reader resumes only at a boundary it verified.
    const start = from.offset === 0 ? 0 : from.offset - 1;
    const buf = Buffer.alloc(size - start);
    for (let at = 0; at < buf.length;) {
      const n = await file.read(buf.subarray(at, Math.min(buf.length, at + STEP_BYTES)), start + at);
      if (n === 0) break;
      at += n;
    }
    if (from.offset > 0 && buf[0] !== NL)
      throw new SecretsError('INTEGRITY', `vault file ${this.#opts.path} has no line boundary at byte ${from.offset}`, HINT_RESTORE);
    const parsed = await parseLog(from.offset === 0 ? buf : buf.subarray(1), from, mode, this.#files);
    return { ...parsed, file: identityOf(st) };
  }

  /**
   * Reads the log from `from` (default: the whole file). Takes no lock: an append in progress
   * is a trailing run or a torn line, which the read ignores.
   */
  async read(from: ReadFrom = { offset: 0, line: 1 }, mode: PayloadMode = 'parse'): Promise<LogRead> {
    const file = await this.#open(constants.O_RDONLY);
    try {
      return await this.#readOpen(file, from, mode);
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw storageError(err, 'read', this.#opts.path);
    } finally {
      await file.close();
    }
  }

  /** The JSON bytes of the line at `place` in the open file if they hash to `hash`; a reason otherwise. */
  async #lineAt(file: OpenFile, hash: string, place: LinePosition): Promise<Buffer | string> {
    const buf = Buffer.alloc(place.length + 1);
    if ((await file.read(buf, place.offset)) !== buf.length) return `the file ends inside line ${place.line}`;
    if (!startsWith(buf, 0, LINE_PREFIX) || buf[place.length] !== NL) return `line ${place.line} is not where it was`;
    const json = buf.subarray(LINE_PREFIX.length, place.length);
    return lineHash(json) === hash ? json : `line ${place.line} does not hash to ${hash}`;
  }

  /** One payload, `pread` at its position and checked against its hash; INTEGRITY or DAMAGED_VAULT otherwise. */
  async payload(hash: string, place: LinePosition): Promise<Payload> {
    const file = await this.#open(constants.O_RDONLY);
    let json: Buffer | string;
    try {
      json = await this.#lineAt(file, hash, place);
    } catch (err) {
      throw storageError(err, 'read', this.#opts.path);
    } finally {
      await file.close();
    }
    if (typeof json === 'string') throw new SecretsError('INTEGRITY', `vault file ${this.#opts.path}: ${json}`, HINT_RESTORE);
    if (!isUtf8(json)) throw damaged(place.line, 'line is not UTF-8');
    const line = parseLine(json.toString('utf8'), place.line);
    if (line.kind !== 'value' && line.kind !== 'keys') throw damaged(place.line, 'not a payload line');
    return line;
  }

  /**
   * Many payloads, each `pread` at its position on one descriptor and checked against its hash;
   * INTEGRITY or DAMAGED_VAULT on the first that is not there.
   */
  async payloadsAt(wanted: readonly { readonly hash: string; readonly place: LinePosition }[]): Promise<Map<string, Payload>> {
    const out = new Map<string, Payload>();
    const file = await this.#open(constants.O_RDONLY);
    try {
      // Many lines: one read of the file, then each line cut out of it (as many preads cost more).
      let whole: Buffer | undefined;
      if (wanted.length > 64) {
        const size = Number((await file.stat()).size);
        whole = Buffer.alloc(size);
        if ((await file.read(whole, 0)) !== size) whole = undefined;
      }
      for (const { hash, place } of wanted) {
        if (out.has(hash)) continue;
        const json = whole !== undefined ? lineIn(whole, hash, place) : await this.#lineAt(file, hash, place);
        if (typeof json === 'string') throw new SecretsError('INTEGRITY', `vault file ${this.#opts.path}: ${json}`, HINT_RESTORE);
        if (!isUtf8(json)) throw damaged(place.line, 'line is not UTF-8');
        const line = parseLine(json.toString('utf8'), place.line);
        if (line.kind !== 'value' && line.kind !== 'keys') throw damaged(place.line, 'not a payload line');
        out.set(hash, line);
      }
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw storageError(err, 'read', this.#opts.path);
    } finally {
      await file.close();
    }
    return out;
  }

  /**
   * Reads on after an entry a reader verified before (`tail`: its hash and place), on one
   * descriptor: the entry's line must still hash to `tail.hash`, and the read starts just after
   * it. `rewritten` says why not (the file was cut or changed before that point).
   */
  async readAfter(tail: Tail, mode: PayloadMode = 'parse'): Promise<{ read: LogRead } | { rewritten: string }> {
    const file = await this.#open(constants.O_RDONLY);
    try {
      return await this.#readAfter(file, tail, mode);
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw storageError(err, 'read', this.#opts.path);
    } finally {
      await file.close();
    }
  }

  async #readAfter(file: OpenFile, tail: Tail, mode: PayloadMode): Promise<{ read: LogRead } | { rewritten: string }> {
    const json = await this.#lineAt(file, tail.hash, tail.place);
    if (typeof json === 'string') return { rewritten: json };
    return { read: await this.#readOpen(file, { offset: tail.place.offset + tail.place.length + 1, line: tail.place.line + 1 }, mode) };
  }

  /**
   * Appends under the lock. `build` sees the log as it stands (a writer catches up, then
   * authorises): all of it, or what follows `after`, an entry this writer verified, whose line
   * must still hash to it (INTEGRITY otherwise: nothing is appended to a history the writer did
   * not verify). It returns the batch or batches (one write's ops, each naming the one before),
   * or undefined to write nothing. The bytes after the
   * last complete entry (a torn or abandoned write) are truncated first, and only those; then the
   * payload lines and the entry go in one write on an `O_APPEND | O_NOFOLLOW` descriptor, and
   * the file is fsynced before the lock is released.
   */
  async append(
    build: (log: LogRead) => Promise<AppendBatch | readonly AppendBatch[] | undefined> | AppendBatch | readonly AppendBatch[] | undefined,
    after?: Tail,
    mode: PayloadMode = 'parse',
  ): Promise<Appended | undefined> {
    const path = this.#opts.path;
    const lock = await acquireLock(`${path}.lock`, this.#opts.lockTimeoutMs, this.#files);
    try {
      const file = await this.#open(constants.O_RDWR | constants.O_APPEND);
      try {
        let log: LogRead;
        if (after === undefined) log = await this.#readOpen(file, { offset: 0, line: 1 }, mode);
        else {
          const resumed = await this.#readAfter(file, after, mode);
          if ('rewritten' in resumed)
            throw new SecretsError('INTEGRITY', `vault file ${path} changed before what this writer verified: ${resumed.rewritten}`, HINT_RESTORE);
          log = resumed.read;
        }
        const built = await build(log);
        const batches: readonly AppendBatch[] = built === undefined ? [] : 'entry' in built ? [built] : built;
        if (batches.length === 0) return undefined;
        // Several entries (one write's ops, each naming the one before) go in the same write.
        const lines: Line[] = batches.flatMap((b) => [...b.payloads, b.entry]);
        const texts = lines.map(lineText);
        const bytes = Buffer.concat(texts);
        const truncated = log.ignored;
        try {
          if (truncated > 0) await file.truncate(log.end);
          await file.write(bytes);
          await file.sync();
        } catch (err) {
          // Leave no part of this batch for readers to skip: back to the last entry.
          try {
            await file.truncate(log.end);
          } catch {
            // the next writer truncates it
          }
          throw storageError(err, 'append to', path);
        }
        // A compaction or migration killed before its rename left a temp file: gone now.
        removeStaleTemps(path);
        const hashes = texts.map((t) => lineHash(t.subarray(LINE_PREFIX.length, t.length - 1)));
        const last = texts[texts.length - 1] as Buffer;
        return {
          hash: hashes[hashes.length - 1] as string,
          place: { offset: log.end + bytes.length - last.length, length: last.length - 1, line: log.endLine + lines.length - 1 },
          entries: hashes.filter((_, i) => isEntry(lines[i] as Line)),
          payloads: hashes.filter((_, i) => !isEntry(lines[i] as Line)),
          offset: log.end,
          end: log.end + bytes.length,
          endLine: log.endLine + lines.length,
          truncated,
        };
      } finally {
        await file.close();
      }
    } finally {
      await lock.release();
    }
  }

  /**
   * Replaces the whole file (compaction), under the lock: `build` sees the log as it stands and
   * returns the lines to follow the header (or undefined to leave the file as it is); they go to
   * a private temp file, which is fsynced and renamed over the vault (store/atomic.ts), so a
   * reader sees the old file or the new one, whole.
   */
  async replace<T>(build: (log: LogRead) => Promise<{ lines: readonly Line[]; result: T }> | { lines: readonly Line[]; result: T }): Promise<T> {
    const lock = await acquireLock(`${this.#opts.path}.lock`, this.#opts.lockTimeoutMs, this.#files);
    try {
      const file = await this.#open(constants.O_RDONLY);
      let log: LogRead;
      try {
        log = await this.#readOpen(file, { offset: 0, line: 1 }, 'parse');
      } finally {
        await file.close();
      }
      const { lines, result } = await build(log);
      const last = lines[lines.length - 1];
      if (last === undefined || !isEntry(last)) throw new SecretsError('INTERNAL', 'a log must end with an entry');
      writeFileAtomic(this.#opts.path, serializeLog(lines));
      return result;
    } finally {
      await lock.release();
    }
  }
}
