/**
 * The read index (ADR 0013): a per-machine note that a vault file, identified by device,
 * inode, size, mtime and ctime, was read whole and matched its signed head digest, plus where
 * each secret's lines are in it and a SHA-256 of those lines and of the header. With it, `get`
 * reads the header records and the one secret's lines instead of hashing the whole file, so
 * its cost stops growing with the vault.
 *
 * What the note may and may not decide:
 * - It replaces only the digest check, and only for bytes it vouches for: every byte the
 *   index path uses is read once, hashed, and compared with the hash the note holds for that
 *   range (readChecked) before it is parsed. The file's identity is not enough on its own: a
 *   write through an already dirty shared mapping changes bytes and no timestamp. The header,
 *   the head's signature, the counters, the trust state and the signatures of every record
 *   used are still checked on every read, as without it.
 * - A note is made and used only for a file whose identity matches and which is at least
 *   RACY_NS old (mtime and ctime), so an ordinary later write lands in a later timestamp tick
 *   and changes the identity (git's "racily clean" rule).
 * - Everything in it is authenticated with HMAC-SHA-256 under a key derived from the reader's
 *   identity seed: the header line (file identity, head digest, header hash) and, bound to
 *   it, each bucket of names, offsets and hashes. It cannot be forged without that key.
 * - It never says a name is absent: a name it does not list sends the read down the full path.
 * Any doubt (no note, another file, a bad MAC, bytes that do not hash as noted, a line that is
 * not what the note says) means the full read, which reports what is wrong or writes a fresh note.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { SECRET_LINE_PREFIX, VERSION_LINE_PREFIX } from './codec.js';
import { type FileAccess, type OpenFile, STEP_BYTES, SYNC_FILES } from './file-access.js';

const MAGIC = 'secrets-read-index-2\n';
/** Two seconds covers the coarsest timestamps in common use (FAT, some network file systems). */
const RACY_NS = 2_000_000_000n;
/** Average entries per bucket: a lookup reads one bucket of a few kilobytes. */
const PER_BUCKET = 32;
const NAME_KEY = Buffer.from(',"name":"');
/** Bytes of the HMAC-SHA-256 tag that starts each bucket. */
const TAG_BYTES = 32;

/** A byte range of the vault file, [start, end), and the SHA-256 (hex) its bytes had when noted. */
export interface NotedRange {
  readonly start: number;
  readonly end: number;
  readonly sha256: string;
}

/** Where a secret's lines are, what they hashed to, and the line number of its record. */
export interface IndexEntry extends NotedRange {
  readonly line: number;
}

/** What a valid note says about the file. */
export interface IndexHit {
  /** The head digest the file matched when the note was made. */
  readonly digest: string;
  /** The header: the magic line through the head line, from offset 0. */
  readonly header: NotedRange;
  readonly entries: ReadonlyMap<string, IndexEntry>;
}

interface Meta {
  readonly path: string;
  readonly vault: string;
  readonly file: string;
  readonly digest: string;
  /** SHA-256 (hex) of the header bytes, [0, headerEnd). */
  readonly header: string;
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
  return hash('sha256', name, 'buffer').readUInt32LE(0) & (buckets - 1);
}

function macOf(key: Uint8Array, metaText: string): string {
  return createHmac('sha256', key).update(MAGIC).update(metaText).digest('hex');
}

/** A bucket's tag: bound to the note's header line (through its MAC) and to the bucket's place. */
function bucketTag(key: Uint8Array, metaMac: string, bucket: number, rows: Buffer): Buffer {
  const at = Buffer.alloc(4);
  at.writeUInt32LE(bucket);
  return createHmac('sha256', key).update(MAGIC).update(metaMac).update(at).update(rows).digest();
}

/** One-shot SHA-256 (hex): a note hashes every secret's lines, and a Hash object per line costs more than the hashing. */
function sha256Hex(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex');
}

/**
 * The bytes of `range` in the open file `fd`, read once, if they hash to what the note says;
 * undefined otherwise. Callers parse the returned buffer and never read the range again.
 */
export async function readChecked(file: OpenFile, range: NotedRange): Promise<Buffer | undefined> {
  const bytes = Buffer.alloc(range.end - range.start);
  if ((await file.read(bytes, range.start)) !== bytes.length) return undefined;
  const got = hash('sha256', bytes, 'buffer');
  const want = Buffer.from(range.sha256, 'hex');
  return got.length === want.length && timingSafeEqual(got, want) ? bytes : undefined;
}

/**
 * Every secret in `buf` (the whole file) from `from` on: its lines, by name. Duplicates map to
 * null. Pauses after each STEP_BYTES scanned.
 */
async function scan(files: FileAccess, buf: Buffer, from: number, firstLine: number): Promise<Map<string, Omit<IndexEntry, 'sha256'> | null>> {
  const out = new Map<string, Omit<IndexEntry, 'sha256'> | null>();
  let line = firstLine;
  let pos = from;
  let pauseAt = from + STEP_BYTES;
  while (pos < buf.length) {
    if (pos >= pauseAt) {
      pauseAt = pos + STEP_BYTES;
      await files.pause();
    }
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
  readonly #files: FileAccess;

  /** `files` serves `lookup` and `save`, which run on the read path. */
  constructor(dir: string, files: FileAccess = SYNC_FILES) {
    this.#dir = dir;
    this.#files = files;
  }

  #file(vaultPath: string): string {
    return join(this.#dir, `${sha256Hex(Buffer.from(vaultPath)).slice(0, 32)}.idx`);
  }

  /** The entries for `names` if a valid note for exactly this file lists every one of them. */
  async lookup(vaultPath: string, st: BigIntStats, key: Uint8Array, names: readonly string[]): Promise<IndexHit | undefined> {
    let file: OpenFile | undefined;
    try {
      file = await this.#files.open(this.#file(vaultPath), constants.O_RDONLY | constants.O_NOFOLLOW);
      const own = await file.stat();
      const size = Number(own.size);
      if (!own.isFile() || (typeof process.getuid === 'function' && own.uid !== BigInt(process.getuid())) || (own.mode & 0o022n) !== 0n) return undefined;
      const head = Buffer.alloc(Math.min(size, 8192));
      await file.read(head, 0);
      if (!head.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return undefined;
      const nl = head.indexOf(0x0a, MAGIC.length);
      if (nl === -1) return undefined;
      const line = head.toString('utf8', MAGIC.length, nl);
      const tab = line.lastIndexOf('\t');
      const metaText = line.slice(0, tab);
      const metaMac = line.slice(tab + 1);
      const mac = Buffer.from(metaMac, 'hex');
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
        if ((await file.read(range, dirStart + 4 * b)) !== 8) return undefined;
        const from = range.readUInt32LE(0);
        const to = range.readUInt32LE(4);
        if (to - from < TAG_BYTES || dataStart + to > size) return undefined;
        const bucket = Buffer.alloc(to - from);
        if ((await file.read(bucket, dataStart + from)) !== bucket.length) return undefined;
        const rows = bucket.subarray(TAG_BYTES);
        if (!timingSafeEqual(bucket.subarray(0, TAG_BYTES), bucketTag(key, metaMac, b, rows))) return undefined;
        let found: IndexEntry | undefined;
        for (const row of rows.toString('utf8').split('\n')) {
          const [n, start, end, ln, sha256] = row.split('\t');
          if (n === name && sha256 !== undefined) found = { start: Number(start), end: Number(end), line: Number(ln), sha256 };
        }
        if (!found || !Number.isSafeInteger(found.start) || !Number.isSafeInteger(found.end) || found.end <= found.start) return undefined;
        entries.set(name, found);
      }
      return { digest: meta.digest, header: { start: 0, end: meta.headerEnd, sha256: meta.header }, entries };
    } catch {
      return undefined;
    } finally {
      await file?.close();
    }
  }

  /**
   * Notes that `buf`, read from the file with identity `st`, matched head digest `digest`, with
   * the hash of its header and of each secret's lines. Does nothing for a file changed in the
   * last two seconds; failures only cost the speed-up. Hashing pauses after each STEP_BYTES.
   */
  async save(
    vaultPath: string,
    st: BigIntStats,
    key: Uint8Array,
    note: { vault: string; digest: string; buf: Buffer; headerEnd: number; firstLine: number },
  ): Promise<void> {
    if (isRacy(st)) return;
    const files = this.#files;
    const tmp = `${this.#file(vaultPath)}.${process.pid}.tmp`;
    try {
      const all = await scan(files, note.buf, note.headerEnd, note.firstLine);
      let buckets = 1;
      while (buckets * PER_BUCKET < all.size) buckets *= 2;
      const rows: string[][] = Array.from({ length: buckets }, () => []);
      let hashed = 0;
      for (const [name, e] of all) {
        if (!e) continue;
        rows[bucketOf(name, buckets)]?.push(`${name}\t${e.start}\t${e.end}\t${e.line}\t${sha256Hex(note.buf.subarray(e.start, e.end))}`);
        hashed += e.end - e.start;
        if (hashed >= STEP_BYTES) {
          hashed = 0;
          await files.pause();
        }
      }
      const header = sha256Hex(note.buf.subarray(0, note.headerEnd));
      const meta: Meta = {
        path: vaultPath,
        vault: note.vault,
        file: fileIdentity(st),
        digest: note.digest,
        header,
        headerEnd: note.headerEnd,
        firstLine: note.firstLine,
        buckets,
      };
      const metaText = JSON.stringify(meta);
      const metaMac = macOf(key, metaText);
      const data = rows.map((r, b) => {
        const text = Buffer.from(r.length ? `${r.join('\n')}\n` : '');
        return Buffer.concat([bucketTag(key, metaMac, b, text), text]);
      });
      const dir = Buffer.alloc(4 * (buckets + 1));
      let off = 0;
      data.forEach((d, i) => {
        dir.writeUInt32LE(off, 4 * i);
        off += d.length;
      });
      dir.writeUInt32LE(off, 4 * buckets);
      await files.mkdir(this.#dir, 0o700);
      const out = await files.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
      try {
        await out.write(Buffer.concat([Buffer.from(`${MAGIC}${metaText}\t${metaMac}\n`), dir, ...data]));
      } finally {
        await out.close();
      }
      await files.rename(tmp, this.#file(vaultPath));
    } catch {
      try {
        await files.unlink(tmp);
      } catch {
        // nothing left to do
      }
    }
  }
}
