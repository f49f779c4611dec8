/**
 * The read index (ADR 0013): a per-machine note that a vault file, identified by device,
 * inode, size, mtime and ctime, was read whole and matched its signed head digest, plus where
 * each secret's lines are in it. With it, `get` reads the header records and the one secret's
 * lines instead of hashing the whole file, so its cost stops growing with the vault.
 *
 * What the note may and may not decide:
 * - It replaces only the digest check, and only for the exact file it was made from. The
 *   header, the head's signature, the counters, the trust state and the signatures of every
 *   record used are checked on every read, as without it.
 * - A note is made only when the file is at least RACY_NS old (mtime and ctime), so any later
 *   change lands in a later timestamp tick and changes the identity (git's "racily clean" rule).
 * - It is authenticated with HMAC-SHA-256 under a key derived from the reader's identity
 *   seed, so it cannot be forged without that key. The offsets are not authenticated: they
 *   only say where to look, and what is found there is parsed and checked like any record.
 * - It never says a name is absent: a name it does not list sends the read down the full path.
 * Any doubt (no note, another file, a bad MAC, a line that is not what the note says) means
 * the full read, which also writes a fresh note.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, type BigIntStats, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_LINE_PREFIX, VERSION_LINE_PREFIX } from './codec.js';

const MAGIC = 'secrets-read-index-1\n';
/** Two seconds covers the coarsest timestamps in common use (FAT, some network file systems). */
const RACY_NS = 2_000_000_000n;
/** Average entries per bucket: a lookup reads one bucket of a few kilobytes. */
const PER_BUCKET = 32;
const NAME_KEY = Buffer.from(',"name":"');

/** Where a secret's lines are: [start, end) byte offsets and the line number of its record. */
export interface IndexEntry {
  readonly start: number;
  readonly end: number;
  readonly line: number;
}

/** What a valid note says about the file. */
export interface IndexHit {
  /** The head digest the file matched when the note was made. */
  readonly digest: string;
  /** Bytes of the header (magic line through the head line). */
  readonly headerEnd: number;
  readonly entries: ReadonlyMap<string, IndexEntry>;
}

interface Meta {
  readonly path: string;
  readonly vault: string;
  readonly file: string;
  readonly digest: string;
  readonly headerEnd: number;
  readonly firstLine: number;
  readonly buckets: number;
}

/** The identity of the file's bytes as the kernel reports it. */
export function fileIdentity(st: BigIntStats): string {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

/** True when the file changed too recently for its timestamps to tell a later change apart. */
function isRacy(st: BigIntStats, nowMs = Date.now()): boolean {
  const now = BigInt(nowMs) * 1_000_000n;
  return now - st.mtimeNs < RACY_NS || now - st.ctimeNs < RACY_NS;
}

function bucketOf(name: string, buckets: number): number {
  return createHash('sha256').update(name).digest().readUInt32LE(0) & (buckets - 1);
}

function macOf(key: Uint8Array, metaText: string): string {
  return createHmac('sha256', key).update(MAGIC).update(metaText).digest('hex');
}

/** Every secret in `buf` (the whole file) from `from` on: its lines, by name. Duplicates map to null. */
function scan(buf: Buffer, from: number, firstLine: number): Map<string, IndexEntry | null> {
  const out = new Map<string, IndexEntry | null>();
  let line = firstLine;
  let pos = from;
  while (pos < buf.length) {
    const start = pos;
    const startLine = line;
    let end = buf.indexOf(0x0a, pos);
    if (end === -1) break;
    pos = end + 1;
    line++;
    if (!buf.subarray(start, start + SECRET_LINE_PREFIX.length).equals(SECRET_LINE_PREFIX)) continue;
    while (pos < buf.length && buf.subarray(pos, pos + VERSION_LINE_PREFIX.length).equals(VERSION_LINE_PREFIX)) {
      end = buf.indexOf(0x0a, pos);
      if (end === -1) break;
      pos = end + 1;
      line++;
    }
    // Canonical records put the secret's own "name" before any nested map (see readSome).
    const at = buf.indexOf(NAME_KEY, start);
    const close = at === -1 ? -1 : buf.indexOf(0x22, at + NAME_KEY.length);
    if (at === -1 || close === -1 || close > pos) continue;
    const name = buf.toString('utf8', at + NAME_KEY.length, close);
    out.set(name, out.has(name) ? null : { start, end: pos, line: startLine });
  }
  return out;
}

/** The read index of one machine: one small file per vault path under the cache directory. */
export class ReadIndex {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #file(vaultPath: string): string {
    return join(this.#dir, `${createHash('sha256').update(vaultPath).digest('hex').slice(0, 32)}.idx`);
  }

  /** The entries for `names` if a valid note for exactly this file lists every one of them. */
  lookup(vaultPath: string, st: BigIntStats, key: Uint8Array, names: readonly string[]): IndexHit | undefined {
    let fd: number | undefined;
    try {
      fd = openSync(this.#file(vaultPath), constants.O_RDONLY | constants.O_NOFOLLOW);
      const own = fstatSync(fd);
      if (!own.isFile() || (typeof process.getuid === 'function' && own.uid !== process.getuid()) || (own.mode & 0o022) !== 0) return undefined;
      const head = Buffer.alloc(Math.min(own.size, 8192));
      readSync(fd, head, 0, head.length, 0);
      if (!head.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return undefined;
      const nl = head.indexOf(0x0a, MAGIC.length);
      if (nl === -1) return undefined;
      const line = head.toString('utf8', MAGIC.length, nl);
      const tab = line.lastIndexOf('\t');
      const metaText = line.slice(0, tab);
      const mac = Buffer.from(line.slice(tab + 1), 'hex');
      const expected = Buffer.from(macOf(key, metaText), 'hex');
      if (tab === -1 || mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
      const meta = JSON.parse(metaText) as Meta;
      if (meta.path !== vaultPath || meta.file !== fileIdentity(st) || isRacy(st)) return undefined;
      const dirStart = nl + 1;
      const dataStart = dirStart + 4 * (meta.buckets + 1);
      const entries = new Map<string, IndexEntry>();
      for (const name of new Set(names)) {
        const b = bucketOf(name, meta.buckets);
        const range = Buffer.alloc(8);
        if (readSync(fd, range, 0, 8, dirStart + 4 * b) !== 8) return undefined;
        const from = range.readUInt32LE(0);
        const to = range.readUInt32LE(4);
        const bucket = Buffer.alloc(to - from);
        if (readSync(fd, bucket, 0, bucket.length, dataStart + from) !== bucket.length) return undefined;
        let found: IndexEntry | undefined;
        for (const row of bucket.toString('utf8').split('\n')) {
          const [n, start, end, ln] = row.split('\t');
          if (n === name) found = { start: Number(start), end: Number(end), line: Number(ln) };
        }
        if (!found || !Number.isSafeInteger(found.start) || !Number.isSafeInteger(found.end) || found.end <= found.start) return undefined;
        entries.set(name, found);
      }
      return { digest: meta.digest, headerEnd: meta.headerEnd, entries };
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Notes that `buf`, read from the file with identity `st`, matched head digest `digest`.
   * Does nothing for a file changed in the last two seconds; failures only cost the speed-up.
   */
  save(vaultPath: string, st: BigIntStats, key: Uint8Array, note: { vault: string; digest: string; buf: Buffer; headerEnd: number; firstLine: number }): void {
    if (isRacy(st)) return;
    try {
      const all = scan(note.buf, note.headerEnd, note.firstLine);
      let buckets = 1;
      while (buckets * PER_BUCKET < all.size) buckets *= 2;
      const rows: string[][] = Array.from({ length: buckets }, () => []);
      for (const [name, e] of all) if (e) rows[bucketOf(name, buckets)]?.push(`${name}\t${e.start}\t${e.end}\t${e.line}`);
      const data = rows.map((r) => Buffer.from(r.length ? `${r.join('\n')}\n` : ''));
      const dir = Buffer.alloc(4 * (buckets + 1));
      let off = 0;
      data.forEach((d, i) => {
        dir.writeUInt32LE(off, 4 * i);
        off += d.length;
      });
      dir.writeUInt32LE(off, 4 * buckets);
      const meta: Meta = { path: vaultPath, vault: note.vault, file: fileIdentity(st), digest: note.digest, headerEnd: note.headerEnd, firstLine: note.firstLine, buckets };
      const metaText = JSON.stringify(meta);
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      const file = this.#file(vaultPath);
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(`${MAGIC}${metaText}\t${macOf(key, metaText)}\n`), dir, ...data]), { mode: 0o600, flag: 'w' });
      renameSync(tmp, file);
    } catch {
      try {
        rmSync(`${this.#file(vaultPath)}.${process.pid}.tmp`, { force: true });
      } catch {
        // nothing left to do
      }
    }
  }
}
