/**
 * Trust state kept outside the vault ($XDG_STATE_HOME/secrets/trust/<vault-id>.json): the
 * pinned genesis of each vault this machine has seen and the highest counter seen per writer.
 * A vault whose genesis differs, or whose counters went backwards, is refused (rollback).
 * Format 2 keeps a trust floor instead (TrustFloorStore, below): heads and seqs, MAC'd.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecretsError } from '../core/errors.js';
import { removeStaleTemps, writeFileAtomic } from './atomic.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';
import { MacFiles } from './mac-file.js';

/** What this machine remembers about one vault. */
export interface TrustState {
  readonly genesis: string;
  readonly ctrs: ReadonlyMap<string, number>;
  /** Format 2: the heads of the history this machine verified last; a later file must hold them. */
  readonly heads?: readonly string[];
  /** Format 2: members this machine saw removed; a later history in which one is not removed is refused. */
  readonly removed?: readonly string[];
}

/** A trust state file's text as a state; undefined when it is not one. */
function parseTrust(text: string): TrustState | undefined {
  try {
    const raw = JSON.parse(text) as { genesis?: unknown; ctrs?: unknown; heads?: unknown; removed?: unknown };
    if (typeof raw.genesis !== 'string' || typeof raw.ctrs !== 'object' || raw.ctrs === null) return undefined;
    const ctrs = new Map<string, number>();
    for (const [k, v] of Object.entries(raw.ctrs)) if (typeof v === 'number') ctrs.set(k, v);
    const heads = Array.isArray(raw.heads) ? raw.heads.filter((h): h is string => typeof h === 'string') : undefined;
    const removed = Array.isArray(raw.removed) ? raw.removed.filter((h): h is string => typeof h === 'string') : undefined;
    return { genesis: raw.genesis, ctrs, ...(heads !== undefined ? { heads } : {}), ...(removed !== undefined ? { removed } : {}) };
  } catch {
    return undefined;
  }
}

function trustText(t: TrustState): string {
  const extra = { ...(t.heads !== undefined ? { heads: t.heads } : {}), ...(t.removed !== undefined && t.removed.length > 0 ? { removed: t.removed } : {}) };
  return `${JSON.stringify({ genesis: t.genesis, ctrs: Object.fromEntries(t.ctrs), ...extra }, null, 2)}\n`;
}

/** A pin file's vault id, if the file is a pin for `vaultPath`. */
function parsePin(text: string, vaultPath: string): string | undefined {
  try {
    const raw = JSON.parse(text) as { path?: unknown; vault?: unknown };
    return raw.path === vaultPath && typeof raw.vault === 'string' ? raw.vault : undefined;
  } catch {
    return undefined;
  }
}

/** Reads and writes trust state files in one directory. */
export class TrustStore {
  readonly #dir: string;
  readonly #files: FileAccess;

  /** `files` serves the reads of `load` and `loadPin` (the read path); writes are synchronous. */
  constructor(dir: string, files: FileAccess = SYNC_FILES) {
    this.#dir = dir;
    this.#files = files;
  }

  #path(vaultId: string): string {
    return join(this.#dir, `${vaultId}.json`);
  }

  /** The remembered state, or undefined for a vault never seen (or an unreadable state file). */
  get(vaultId: string): TrustState | undefined {
    try {
      return parseTrust(readFileSync(this.#path(vaultId), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** `get` through this store's file access. */
  async load(vaultId: string): Promise<TrustState | undefined> {
    try {
      return parseTrust((await this.#files.readFile(this.#path(vaultId))).toString('utf8'));
    } catch {
      return undefined;
    }
  }

  /**
   * Records `next`, keeping the higher counter for every writer already remembered and every
   * removal. `self`, when given, is this machine's identity, whose counter becomes `next`'s even
   * when lower: its own entries that were never shared, given up on purpose (a compaction that
   * replaced them, its own compaction set against another admin's).
   */
  put(vaultId: string, next: TrustState, self?: string): void {
    const current = this.get(vaultId);
    const ctrs = new Map(current?.genesis === next.genesis ? current.ctrs : []);
    if (self !== undefined) ctrs.delete(self);
    for (const [k, v] of next.ctrs) ctrs.set(k, Math.max(v, ctrs.get(k) ?? 0));
    const heads = next.heads ?? (current?.genesis === next.genesis ? current.heads : undefined);
    const same = current?.genesis === next.genesis;
    const removed = [...new Set([...(same ? (current?.removed ?? []) : []), ...(next.removed ?? [])])].sort();
    const text = trustText({ genesis: next.genesis, ctrs, ...(heads !== undefined ? { heads } : {}), ...(removed.length > 0 ? { removed } : {}) });
    if (current !== undefined && trustText(current) === text) return;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    // A writer killed in the middle of this leaves its temp file: the next one removes it.
    removeStaleTemps(this.#path(vaultId));
    writeFileAtomic(this.#path(vaultId), text);
  }

  /** Puts back a state `get` returned, exactly (a merge whose result was then refused). */
  replace(vaultId: string, next: TrustState): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    removeStaleTemps(this.#path(vaultId));
    writeFileAtomic(this.#path(vaultId), trustText({ ...next, ...(next.removed !== undefined ? { removed: [...next.removed].sort() } : {}) }));
  }

  /** The trust file of a vault (named in messages so a user can reset it on purpose). */
  path(vaultId: string): string {
    return this.#path(vaultId);
  }

  /** The pin file that records which vault lives at `vaultPath`. */
  pinPath(vaultPath: string): string {
    return join(this.#dir, 'paths', `${createHash('sha256').update(vaultPath).digest('hex').slice(0, 32)}.json`);
  }

  /** The vault id this machine has seen at `vaultPath`, if any. */
  pinnedVault(vaultPath: string): string | undefined {
    try {
      return parsePin(readFileSync(this.pinPath(vaultPath), 'utf8'), vaultPath);
    } catch {
      return undefined;
    }
  }

  /** `pinnedVault` through this store's file access. */
  async loadPin(vaultPath: string): Promise<string | undefined> {
    try {
      return parsePin((await this.#files.readFile(this.pinPath(vaultPath))).toString('utf8'), vaultPath);
    } catch {
      return undefined;
    }
  }

  /** Records that `vaultId` lives at `vaultPath` (init, and the first read of a path). */
  pin(vaultPath: string, vaultId: string): void {
    const file = this.pinPath(vaultPath);
    mkdirSync(join(this.#dir, 'paths'), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, `${JSON.stringify({ path: vaultPath, vault: vaultId }, null, 2)}\n`);
  }
}

/**
 * What this machine verified of a format-2 vault (ADR 0018 §5): the path it is pinned to, the
 * heads and each signer's highest seq, and the latest checkpoint. A history that does not
 * extend it (a head missing, a seq lower) is refused.
 */
export interface TrustFloor {
  /** G, the hash of the genesis line. */
  readonly vault: string;
  readonly path: string;
  readonly heads: readonly string[];
  readonly seqs: ReadonlyMap<string, number>;
  readonly checkpoint?: string;
}

const FLOOR_MAGIC = 'secrets-trust-floor-1\n';
const REMOTES_MAGIC = 'secrets-remote-heads-1\n';

/**
 * Trust floors, one file per vault (`<G as base64url>.json`), written atomically and MAC'd with
 * HMAC-SHA-256 under the identity's floor key. A missing floor is a first contact (trust on
 * first use, as format 1); a floor whose MAC fails is refused (INTEGRITY), never taken for
 * "never seen".
 */
export class TrustFloorStore {
  readonly #files: MacFiles;

  /** `key` is the identity's floor key (crypto/identity.ts); `files` serves the reads. */
  constructor(dir: string, key: Uint8Array, files: FileAccess = SYNC_FILES) {
    this.#files = new MacFiles(dir, key, files);
  }

  #name(vault: string): string {
    return `${Buffer.from(vault, 'base64').toString('base64url')}.json`;
  }

  /** The floor file of a vault (named in messages so a user can reset it on purpose). */
  path(vault: string): string {
    return this.#files.path(this.#name(vault));
  }

  /** The floor, undefined if there is none; INTEGRITY if there is one this identity did not write. */
  async load(vault: string): Promise<TrustFloor | undefined> {
    const checked = await this.#files.readChecked(this.#name(vault), FLOOR_MAGIC);
    if (checked === 'missing') return undefined;
    const j =
      checked === 'forged'
        ? undefined
        : (JSON.parse(checked.text) as { vault: string; path: string; heads: string[]; seqs: [string, number][]; checkpoint?: string });
    if (j?.vault !== vault) throw this.#forged(this.#name(vault));
    return { vault: j.vault, path: j.path, heads: j.heads, seqs: new Map(j.seqs), ...(j.checkpoint !== undefined ? { checkpoint: j.checkpoint } : {}) };
  }

  /**
   * The heads each remote had when this machine last saw it (`sync/<G>.json`): a remote whose
   * history does not contain them was forced back or rewritten. Empty when none were recorded.
   */
  async remoteHeads(vault: string): Promise<ReadonlyMap<string, readonly string[]>> {
    const checked = await this.#files.readChecked(`sync/${this.#name(vault)}`, REMOTES_MAGIC);
    if (checked === 'missing') return new Map();
    const j = checked === 'forged' ? undefined : (JSON.parse(checked.text) as { vault: string; remotes: [string, string[]][] });
    if (j?.vault !== vault) throw this.#forged(`sync/${this.#name(vault)}`);
    return new Map(j.remotes);
  }

  /** Records the heads a remote has now (after a sync verified them). */
  async putRemoteHeads(vault: string, remote: string, heads: readonly string[]): Promise<void> {
    const remotes = new Map(await this.remoteHeads(vault));
    remotes.set(remote, [...heads]);
    const text = JSON.stringify({ vault, remotes: [...remotes].sort(([a], [b]) => (a < b ? -1 : 1)) });
    this.#files.writeChecked(`sync/${this.#name(vault)}`, REMOTES_MAGIC, text);
  }

  #forged(name: string): SecretsError {
    return new SecretsError(
      'INTEGRITY',
      `the trust floor ${this.#files.path(name)} does not check with this identity's key`,
      'another program or identity wrote it; if you trust the vault as it is now, remove the file and read it again',
    );
  }

  /** Records `floor`, keeping each signer's higher seq of the floor already there. */
  async put(floor: TrustFloor): Promise<void> {
    const current = await this.load(floor.vault);
    const seqs = new Map(current?.seqs);
    for (const [k, v] of floor.seqs) seqs.set(k, Math.max(v, seqs.get(k) ?? 0));
    const text = JSON.stringify({ ...floor, seqs: [...seqs].sort(([a], [b]) => (a < b ? -1 : 1)) });
    this.#files.writeChecked(this.#name(floor.vault), FLOOR_MAGIC, text);
  }
}

/**
 * Why a verified history does not extend the floor (a head it lacks, a seq below the floor's),
 * or undefined when it does. `entries` are the history's entry hashes.
 */
export function belowFloor(floor: TrustFloor, entries: ReadonlySet<string>, seqs: ReadonlyMap<string, number>): string | undefined {
  const lost = floor.heads.find((h) => !entries.has(h));
  if (lost !== undefined) return `entry ${lost}, verified here before, is not in the history (a truncation, a fork or a rewritten past)`;
  for (const [signer, seq] of floor.seqs) {
    if ((seqs.get(signer) ?? 0) < seq) return `${signer}'s seq went back from ${seq} to ${seqs.get(signer) ?? 0}`;
  }
  return undefined;
}
