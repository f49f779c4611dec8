/**
 * The per-machine verified state of a format-2 vault (docs/decisions/0018-operation-log.md §5),
 * which took over the role of format 1's read index (ADR 0013, removed). A cache: deleting it costs time, never safety.
 *
 * - `header`: MAC'd with HMAC-SHA-256 under the reader's key (identity subkey 3, once the read
 *   index's). It says which file was verified (path, device and inode), how far (`len`, the line
 *   number there, and `tail`: the hash and place of the entry ending at `len`), the heads, each
 *   signer's highest seq, the governance state (members, roles, policies: small), and the
 *   SHA-256 of each of BUCKETS buckets.
 * - Bucket files, named by their SHA-256, so that a header never names a file a later save
 *   changed: a secret goes into the bucket of the hash of its name, with its whole replayed
 *   state and where each version's `value` and `keys` lines are in the vault file.
 *
 * A `get` reads the header (MAC checked), the log after `tail` (its line must still hash to it),
 * one bucket (checked against the header), and `pread`s two payload lines (checked against
 * their hashes). Anything that does not check sends the caller to a full verification.
 */
import { createHash } from 'node:crypto';
import { constants, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PMap } from '../core/pmap.js';
import type { ReplayState, SecretState, MemberState, PolicyState, VersionState } from '../core/state.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';
import { MacFiles } from './mac-file.js';
import type { LinePosition, LogRead, OpLog, Tail } from './op-log.js';

const MAGIC = 'secrets-verified-state-1\n';
/** Buckets of the state: a secret's bucket is the hash of its name; 1,024 keeps each small up to ~100,000 secrets. */
export const BUCKETS = 1024;

/** Where a version's payload lines are in the vault file. */
export interface PayloadPlaces {
  readonly v: LinePosition;
  readonly k: LinePosition;
}

/** A secret as a bucket keeps it: its replayed state and where its versions' payloads are. */
export interface BucketSecret {
  readonly secret: SecretState;
  /** Version id → its payloads' places. */
  readonly payloads: ReadonlyMap<string, PayloadPlaces>;
}

/** The governance part of the replayed state: everything but the secrets and their names (which the buckets hold). */
export type GovernanceState = Omit<ReplayState, 'secrets' | 'names'>;

/** The governance part of a replayed state. */
export function governanceOf(state: ReplayState): GovernanceState {
  const { vault, id, name, creator, members, policies, resourcePolicies, anchors } = state;
  return { vault, id, name, creator, members, policies, resourcePolicies, anchors };
}

/** What the header vouches for. */
export interface VerifiedHeader {
  /** G, the hash of the genesis line. */
  readonly vault: string;
  readonly path: string;
  /** Device and inode of the verified file. */
  readonly file: string;
  /** The entry ending at the verified length, and where it is. */
  readonly tail: Tail;
  /** That entry's time (an entry appended after it may not be earlier). */
  readonly tailAt: string;
  readonly heads: readonly string[];
  readonly seqs: ReadonlyMap<string, number>;
  readonly governance: GovernanceState;
  /**
   * Each bucket: '' when empty; the SHA-256 (hex) of its text, kept in the file `b-<hash>`; or,
   * for a bucket written with many others (a full save), `<hash>@<pack>:<offset>:<length>`:
   * those bytes of the file `p-<pack>`. Either way the bytes must hash to `<hash>`.
   */
  readonly buckets: readonly string[];
}

/** A save that writes at least this many buckets puts them in one pack file (creating 1,024 files costs a fresh clone up to a second). */
const PACK_FROM = 64;
/** A bucket's reference into a pack. */
const PACKED = /^([0-9a-f]{64})@([0-9a-f]{64}):(\d{1,12}):(\d{1,12})$/;

/** Whether the vault file still is what the header verified. */
export type Freshness =
  /** Nothing was appended after `tail` (a torn or abandoned write does not count). */
  | { readonly status: 'current'; readonly read: LogRead }
  /** Entries were appended: the caller verifies and applies `read`, then saves. */
  | { readonly status: 'grown'; readonly read: LogRead }
  /** Another file is at the path (a compaction, a checkout): verify it in full. */
  | { readonly status: 'replaced' }
  /** The file was cut or changed at or before `tail`: refused unless a checkpoint connects. */
  | { readonly status: 'rewritten'; readonly why: string };

/**
 * The directory of one vault's verified state for one identity, under the cache directory
 * (`$XDG_CACHE_HOME/secrets`): `state/<first 32 hex of SHA-256(real path)>-<identity id>`.
 */
export function verifiedStateDir(cacheDir: string, realPath: string, identityId: string): string {
  return join(cacheDir, 'state', `${createHash('sha256').update(realPath).digest('hex').slice(0, 32)}-${identityId}`);
}

/** The bucket of a secret's name. */
export function bucketOf(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % BUCKETS;
}

// ---- JSON of the cached state (our own writing, under a MAC or a MAC'd hash; still read defensively) ----

type Pairs<V> = [string, V][];

const pairs = <V>(map: ReadonlyMap<string, V>): Pairs<V> => [...map];

function bucketJson(rows: readonly BucketSecret[]): string {
  return JSON.stringify(
    rows.map(({ secret, payloads }) => ({ secret: { ...secret, tags: pairs(secret.tags), stages: pairs(secret.stages) }, payloads: pairs(payloads) })),
  );
}

function bucketFromJson(text: string): BucketSecret[] {
  const rows = JSON.parse(text) as {
    secret: Omit<SecretState, 'tags' | 'stages'> & { tags: Pairs<string>; stages: Pairs<string> };
    payloads: Pairs<PayloadPlaces>;
  }[];
  return rows.map(({ secret, payloads }) => ({
    secret: { ...secret, tags: new Map(secret.tags), stages: new Map(secret.stages), versions: secret.versions as VersionState[] },
    payloads: new Map(payloads),
  }));
}

interface HeaderJson {
  readonly vault: string;
  readonly path: string;
  readonly file: string;
  readonly tail: Tail;
  readonly tailAt: string;
  readonly heads: readonly string[];
  readonly seqs: Pairs<number>;
  readonly governance: Omit<GovernanceState, 'members' | 'policies' | 'resourcePolicies' | 'anchors'> & {
    readonly members: Pairs<MemberState>;
    readonly policies: Pairs<PolicyState>;
    readonly resourcePolicies: Pairs<PolicyState>;
    readonly anchors: Pairs<string>;
  };
  readonly buckets: readonly string[];
}

function headerJson(h: VerifiedHeader): string {
  const g = governanceOf({ ...h.governance, secrets: PMap.empty(), names: PMap.empty() });
  const json: HeaderJson = {
    vault: h.vault,
    path: h.path,
    file: h.file,
    tail: h.tail,
    tailAt: h.tailAt,
    heads: h.heads,
    seqs: pairs(h.seqs),
    governance: { ...g, members: pairs(g.members), policies: pairs(g.policies), resourcePolicies: pairs(g.resourcePolicies), anchors: pairs(g.anchors) },
    buckets: h.buckets,
  };
  return JSON.stringify(json);
}

function headerFromJson(text: string): VerifiedHeader {
  const j = JSON.parse(text) as HeaderJson;
  const g = j.governance;
  if (!Array.isArray(j.buckets) || j.buckets.length !== BUCKETS || typeof j.tailAt !== 'string') throw new Error('not a header');
  return {
    ...j,
    seqs: new Map(j.seqs),
    governance: {
      ...g,
      members: PMap.from(g.members),
      policies: PMap.from(g.policies),
      resourcePolicies: PMap.from(g.resourcePolicies),
      anchors: PMap.from(g.anchors),
    },
  };
}

/** The file a bucket reference names: its own, or its pack. */
function fileOf(ref: string): string {
  const packed = PACKED.exec(ref);
  return packed === null ? `b-${ref}` : `p-${packed[2] ?? ''}`;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The buckets of a replayed state, with each version's payload places from the read that was
 * replayed (a version whose payloads the read does not hold has none: its value was pruned).
 */
export function bucketsOf(state: ReplayState, read: LogRead): Map<number, BucketSecret[]> {
  const out = new Map<number, BucketSecret[]>();
  for (const secret of state.secrets.values()) {
    const payloads = new Map<string, PayloadPlaces>();
    for (const v of secret.versions) {
      const value = read.payloads.get(v.v);
      const keys = read.payloads.get(v.k);
      if (value !== undefined && keys !== undefined) payloads.set(v.id, { v: value.place, k: keys.place });
    }
    const b = bucketOf(secret.name);
    out.set(b, [...(out.get(b) ?? []), { secret, payloads }]);
  }
  for (const rows of out.values()) rows.sort((x, y) => (x.secret.id < y.secret.id ? -1 : 1));
  return out;
}

/** The verified state of one vault for one identity, in one directory. */
export class VerifiedStateStore {
  readonly #files: MacFiles;
  readonly #fileAccess: FileAccess;

  /** `key` authenticates the header (the identity's verified-state key); `files` serves the reads. */
  constructor(dir: string, key: Uint8Array, files: FileAccess = SYNC_FILES) {
    // A cache: a file a crash lost or left stale fails its hash or MAC, and the reader verifies
    // the vault in full instead. 1,025 fsyncs would cost a fresh clone seconds.
    this.#files = new MacFiles(dir, key, files, false);
    this.#fileAccess = files;
  }

  /** The header if it is there and its MAC checks; undefined otherwise (missing, forged, another identity's). */
  async header(): Promise<VerifiedHeader | undefined> {
    const checked = await this.#files.readChecked('header', MAGIC).catch(() => 'missing' as const);
    if (typeof checked === 'string') return undefined;
    try {
      return headerFromJson(checked.text);
    } catch {
      return undefined;
    }
  }

  /** The text of a bucket reference (its own file, or its bytes of a pack), unchecked; undefined when unreadable. */
  async #bucketText(ref: string): Promise<{ hash: string; text: string } | undefined> {
    const packed = PACKED.exec(ref);
    if (packed === null) {
      const text = await this.#files.read(`b-${ref}`).catch(() => undefined);
      return text === undefined ? undefined : { hash: ref, text };
    }
    const [, hash = '', pack = '', offset = '0', length = '0'] = packed;
    try {
      const buf = Buffer.alloc(Number(length));
      const file = await this.#fileAccess.open(this.#files.path(`p-${pack}`), constants.O_RDONLY);
      try {
        if ((await file.read(buf, Number(offset))) !== buf.length) return undefined;
      } finally {
        await file.close();
      }
      return { hash, text: buf.toString('utf8') };
    } catch {
      return undefined;
    }
  }

  /** One bucket as the header names it; undefined when its bytes are missing or do not hash as named. */
  async bucket(header: VerifiedHeader, index: number): Promise<BucketSecret[] | undefined> {
    const want = header.buckets[index];
    if (want === undefined) return undefined;
    if (want === '') return [];
    const got = await this.#bucketText(want);
    if (got === undefined || sha256Hex(got.text) !== got.hash) return undefined;
    const text = got.text;
    try {
      return bucketFromJson(text);
    } catch {
      return undefined;
    }
  }

  /** The secrets of this name in its bucket (a deleted one and its successor can share a name). */
  async secretsNamed(header: VerifiedHeader, name: string): Promise<BucketSecret[] | undefined> {
    return (await this.bucket(header, bucketOf(name)))?.filter((row) => row.secret.name === name);
  }

  /** Whether the vault file still is the one the header verified, and what was appended since. */
  async freshness(header: VerifiedHeader, log: OpLog): Promise<Freshness> {
    const after = await log.readAfter(header.tail, 'index');
    if ('rewritten' in after) return { status: 'rewritten', why: after.rewritten };
    if (after.read.file !== header.file) return { status: 'replaced' };
    return { status: after.read.entries.length === 0 ? 'current' : 'grown', read: after.read };
  }

  /**
   * Saves a header and the buckets that changed (`changed`: index → its secrets, [] to empty it);
   * the others keep the hashes of `previous`. Buckets first, each a new file named by its hash,
   * then the header, atomically. None is fsynced: after a crash, a header that names a bucket
   * lost or left stale fails the bucket's hash check, and the reader verifies in full. Bucket
   * files the new header does not name are removed last.
   */
  save(header: Omit<VerifiedHeader, 'buckets'>, changed: ReadonlyMap<number, readonly BucketSecret[]>, previous?: VerifiedHeader): VerifiedHeader {
    const buckets = previous !== undefined && previous.vault === header.vault ? [...previous.buckets] : new Array<string>(BUCKETS).fill('');
    const texts: [number, string, string][] = [];
    for (const [index, rows] of changed) {
      if (rows.length === 0) {
        buckets[index] = '';
        continue;
      }
      const text = bucketJson(rows);
      const hash = sha256Hex(text);
      if (hash !== (buckets[index] ?? '').slice(0, 64)) texts.push([index, hash, text]);
    }
    if (texts.length >= PACK_FROM) {
      // Many buckets at once (a full save): one pack file, each bucket a range of it.
      const bytes = texts.map(([, , text]) => Buffer.from(text, 'utf8'));
      const pack = Buffer.concat(bytes);
      const name = createHash('sha256').update(pack).digest('hex');
      this.#files.write(`p-${name}`, pack);
      let offset = 0;
      texts.forEach(([index, hash], i) => {
        const length = (bytes[i] as Buffer).length;
        buckets[index] = `${hash}@${name}:${offset}:${length}`;
        offset += length;
      });
    } else {
      for (const [index, hash, text] of texts) {
        this.#files.write(`b-${hash}`, text);
        buckets[index] = hash;
      }
    }
    const full: VerifiedHeader = { ...header, buckets };
    const text = headerJson(full);
    this.#files.writeChecked('header', MAGIC, text);
    // Without a previous header, files left by a lost one are found by listing the directory.
    const kept = new Set(buckets.filter((b) => b !== '').map(fileOf));
    const old =
      previous !== undefined
        ? previous.buckets.filter((b) => b !== '').map(fileOf)
        : readdirSync(this.#files.path('.')).filter((f) => f.startsWith('b-') || f.startsWith('p-'));
    for (const name of old) {
      if (kept.has(name)) continue;
      try {
        unlinkSync(this.#files.path(name));
      } catch {
        // removed already
      }
    }
    return full;
  }
}
