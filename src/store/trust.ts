/**
 * Trust state kept outside the vault ($XDG_STATE_HOME/secrets/trust/<vault-id>.json): the
 * pinned genesis of each vault this machine has seen and the highest counter seen per writer.
 * A vault whose genesis differs, or whose counters went backwards, is refused (rollback).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { type FileAccess, SYNC_FILES } from './file-access.js';

/** What this machine remembers about one vault. */
export interface TrustState {
  readonly genesis: string;
  readonly ctrs: ReadonlyMap<string, number>;
  /** Format 2: the heads of the history this machine verified last; a later file must hold them. */
  readonly heads?: readonly string[];
}

/** A trust state file's text as a state; undefined when it is not one. */
function parseTrust(text: string): TrustState | undefined {
  try {
    const raw = JSON.parse(text) as { genesis?: unknown; ctrs?: unknown; heads?: unknown };
    if (typeof raw.genesis !== 'string' || typeof raw.ctrs !== 'object' || raw.ctrs === null) return undefined;
    const ctrs = new Map<string, number>();
    for (const [k, v] of Object.entries(raw.ctrs)) if (typeof v === 'number') ctrs.set(k, v);
    const heads = Array.isArray(raw.heads) ? raw.heads.filter((h): h is string => typeof h === 'string') : undefined;
    return { genesis: raw.genesis, ctrs, ...(heads !== undefined ? { heads } : {}) };
  } catch {
    return undefined;
  }
}

function trustText(t: TrustState): string {
  return `${JSON.stringify({ genesis: t.genesis, ctrs: Object.fromEntries(t.ctrs), ...(t.heads !== undefined ? { heads: t.heads } : {}) }, null, 2)}\n`;
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

  /** Records `next`, keeping the higher counter for every writer already remembered. */
  put(vaultId: string, next: TrustState): void {
    const current = this.get(vaultId);
    const ctrs = new Map(current?.genesis === next.genesis ? current.ctrs : []);
    for (const [k, v] of next.ctrs) ctrs.set(k, Math.max(v, ctrs.get(k) ?? 0));
    const heads = next.heads ?? (current?.genesis === next.genesis ? current.heads : undefined);
    const text = trustText({ genesis: next.genesis, ctrs, ...(heads !== undefined ? { heads } : {}) });
    if (current !== undefined && trustText(current) === text) return;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#path(vaultId), text);
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
