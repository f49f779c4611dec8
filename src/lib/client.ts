/**
 * The library API: `SecretsClient` reads secrets from Node programs the way the CLI does: same
 * vault and identity resolution, same authorization, same audit trail (fail-closed). A small
 * per-process cache (TTL, size bound) checks the vault file on every hit, so a value changed by
 * another process (a `put`, a rotation) is never served stale past that one check.
 */
import { stat } from 'node:fs/promises';
import { SecretsError } from '../core/errors.js';
import { getSecretValue } from '../core/use-cases/read.js';
import { batchGetSecretValue } from '../core/use-cases/release.js';
import { type AppDeps, composeDeps } from '../app/compose.js';
import { ASYNC_FILES } from '../store/file-access.js';

/** How a client finds the vault and identity, and how it caches. */
export interface SecretsClientOptions {
  /** The vault file; default as the CLI: SECRETS_VAULT, then $XDG_DATA_HOME/secrets/vault.yaml. */
  readonly vault?: string;
  /** An identity key file; default as the CLI: SECRETS_IDENTITY_KEY, SECRETS_IDENTITY_FILE, the fallback file identity.key, the keychain. */
  readonly identityFile?: string;
  /** The environment to resolve paths and identity from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `required` (default: a read fails if its audit event cannot be written) or `best-effort`. */
  readonly audit?: 'required' | 'best-effort';
  /** Cache settings, or false for none. Default: 5 minutes, 1,000 entries. */
  readonly cache?: false | { readonly ttlMs?: number; readonly maxEntries?: number };
  /** Where warnings go (default: process.emitWarning). */
  readonly onWarning?: (message: string) => void;
}

/** A secret's value, as AWS GetSecretValue returns it. */
export interface SecretValue {
  readonly Name: string;
  readonly VersionId: string;
  /** Set for text secrets. */
  readonly SecretString?: string;
  /** Set for binary secrets. */
  readonly SecretBinary?: Uint8Array;
  readonly VersionStages: string[];
  readonly CreatedDate: Date;
}

/** What identifies a value: a secret and, optionally, a stage or version (default stage CURRENT). */
export interface GetSecretValueInput {
  readonly SecretId: string;
  readonly VersionStage?: string;
  readonly VersionId?: string;
}

interface CacheEntry {
  readonly value: SecretValue;
  readonly expires: number;
  readonly stamp: string;
}

/** A caller may wipe or change what it got; the cache keeps its own copy. */
function copyOf(v: SecretValue): SecretValue {
  return {
    ...v,
    VersionStages: [...v.VersionStages],
    CreatedDate: new Date(v.CreatedDate),
    ...(v.SecretBinary ? { SecretBinary: new Uint8Array(v.SecretBinary) } : {}),
  };
}

const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_ENTRIES = 1000;

/** Reads secrets from a vault; see docs/library.md. */
export class SecretsClient {
  readonly #deps: AppDeps;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(options: SecretsClientOptions = {}) {
    const env = { ...(options.env ?? process.env) };
    const warn = options.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'SECRETS' }));
    this.#deps = composeDeps({
      env,
      warn,
      note: warn,
      // A library call has no person at a terminal.
      tty: false,
      globals: {
        ...(options.vault !== undefined ? { vault: options.vault } : {}),
        ...(options.identityFile !== undefined ? { identityFile: options.identityFile } : {}),
        ...(options.audit !== undefined ? { audit: options.audit } : {}),
      },
      files: ASYNC_FILES,
    });
    this.#ttlMs = options.cache === false ? 0 : (options.cache?.ttlMs ?? DEFAULT_TTL_MS);
    this.#maxEntries = options.cache === false ? 0 : (options.cache?.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  /** Identifies the vault file's current content cheaply: any write replaces the file. */
  async #stamp(): Promise<string> {
    try {
      const st = await stat(this.#deps.vault.location, { bigint: true });
      return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return 'missing';
    }
  }

  /** The value of a secret (CURRENT unless a stage or version is given). */
  async getSecretValue(input: GetSecretValueInput): Promise<SecretValue> {
    if (input.VersionStage !== undefined && input.VersionId !== undefined) {
      throw new SecretsError('USAGE', 'pass VersionStage or VersionId, not both');
    }
    const key = JSON.stringify([input.SecretId, input.VersionId ?? null, input.VersionStage ?? null]);
    const stamp = await this.#stamp();
    const hit = this.#cache.get(key);
    if (hit && hit.expires > Date.now() && hit.stamp === stamp) return copyOf(hit.value);
    this.#cache.delete(key);
    const v = await getSecretValue(this.#deps, { name: input.SecretId, versionId: input.VersionId, versionStage: input.VersionStage });
    const text = v.type === 'string' ? v.value.revealText() : undefined;
    const value: SecretValue = {
      Name: v.Name,
      VersionId: v.VersionId,
      ...(text !== undefined ? { SecretString: text } : { SecretBinary: new Uint8Array(v.value.reveal()) }),
      VersionStages: v.VersionStages,
      CreatedDate: new Date(v.CreatedDate),
    };
    v.value.wipe();
    if (this.#maxEntries > 0 && this.#ttlMs > 0) {
      this.#cache.set(key, { value: copyOf(value), expires: Date.now() + this.#ttlMs, stamp });
      while (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    }
    return value;
  }

  /** The value of a JSON secret, parsed. Throws INVALID_VALUE when it is not JSON. */
  async getSecretJson<T = Record<string, unknown>>(input: GetSecretValueInput | string): Promise<T> {
    const v = await this.getSecretValue(typeof input === 'string' ? { SecretId: input } : input);
    if (v.SecretString === undefined) throw new SecretsError('INVALID_VALUE', `secret ${v.Name} is binary, not JSON`);
    try {
      return JSON.parse(v.SecretString) as T;
    } catch {
      throw new SecretsError('INVALID_VALUE', `secret ${v.Name} is not valid JSON`);
    }
  }

  /** Several secrets at once (AWS BatchGetSecretValue): values and per-secret errors. */
  async batchGetSecretValue(input: {
    SecretIdList: readonly string[];
  }): Promise<{ SecretValues: SecretValue[]; Errors: { SecretId: string; ErrorCode: string; Message: string }[] }> {
    const r = await batchGetSecretValue(this.#deps, { names: input.SecretIdList });
    const SecretValues = r.values.map((v) => {
      const text = v.type === 'string' ? v.value.revealText() : undefined;
      const out: SecretValue = {
        Name: v.Name,
        VersionId: v.VersionId,
        ...(text !== undefined ? { SecretString: text } : { SecretBinary: new Uint8Array(v.value.reveal()) }),
        VersionStages: v.VersionStages,
        CreatedDate: new Date(v.CreatedDate),
      };
      v.value.wipe();
      return out;
    });
    return { SecretValues, Errors: r.errors };
  }

  /** Forgets every cached value. */
  clearCache(): void {
    this.#cache.clear();
  }
}
