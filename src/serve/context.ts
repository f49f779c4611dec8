/**
 * What `secrets serve` holds while it runs: the identity that started it (loaded once), the
 * credentials derived from it, the vault (re-read only when its file changes) and the audit
 * trail with group commit. Each request gets the core's ports with its own audit facts (source
 * address, user agent, request id), so it runs through the same use cases as the CLI.
 */
import { stat } from 'node:fs/promises';
import type { AppDeps } from '../app/compose.js';
import { GroupCommitTrail } from '../audit/group-commit.js';
import { requireMember } from '../core/access.js';
import type { SecretRecord, VaultState, VersionRecord } from '../core/model.js';
import type { Identity, LoadedIdentity, PublicIdentity, ValueCipher, VaultRepository } from '../core/ports.js';
import { SecretBytes } from '../core/secret-bytes.js';
import type { CoreDeps } from '../core/use-cases/deps.js';
import { type ServeCredentials, serveCredentials } from './credentials.js';

/** Identifies the vault file's content cheaply: every write replaces or appends to it. */
async function stampOf(path: string): Promise<string> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

/**
 * How long one look at the vault file's stat serves: a change by another process is seen by
 * requests that arrive this long after it, at most (a write through this server at once).
 */
const STAMP_TTL_MS = 20;

/**
 * The vault repository with the verified state kept in memory while the file is unchanged: a
 * read costs one stat. Any change to the file (a write through this server, a `put` or a `sync`
 * by another process) makes the next read load and verify it again, in full.
 */
export class ServedVault implements VaultRepository {
  readonly #inner: VaultRepository;
  #stamp: string | undefined;
  #state: VaultState | undefined;
  #loading: Promise<VaultState> | undefined;
  #loadingStamp: string | undefined;
  #stamping: Promise<string> | undefined;
  #stampedAt = 0;
  /** Records whose signatures were checked (states are immutable, so an object stays verified). */
  readonly #verified = new WeakSet<SecretRecord | VersionRecord>();

  constructor(inner: VaultRepository) {
    this.#inner = inner;
  }

  get location(): string {
    return this.#inner.location;
  }

  exists(): Promise<boolean> {
    return this.#inner.exists();
  }

  /** The file's stamp, looked up at most once per STAMP_TTL_MS and shared by concurrent requests. */
  #stampNow(): Promise<string> {
    const now = Date.now();
    if (this.#stamping && now - this.#stampedAt < STAMP_TTL_MS) return this.#stamping;
    this.#stampedAt = now;
    this.#stamping = stampOf(this.#inner.location);
    return this.#stamping;
  }

  async read(identity: Identity): Promise<VaultState> {
    const stamp = await this.#stampNow();
    if (stamp === this.#stamp && this.#state) return this.#state;
    // Concurrent requests after a change share one load.
    if (this.#loading && this.#loadingStamp === stamp) return this.#loading;
    const loading = this.#inner.read(identity).then((state) => {
      // Stamped before the read: a change during it shows as another stamp next time.
      if (this.#loading === loading) {
        this.#stamp = stamp;
        this.#state = state;
      }
      return state;
    });
    this.#loading = loading;
    this.#loadingStamp = stamp;
    try {
      return await loading;
    } finally {
      if (this.#loading === loading) this.#loading = undefined;
    }
  }

  readSome(identity: Identity): Promise<VaultState> {
    return this.read(identity);
  }

  async verifyRecords(state: VaultState, records: readonly (SecretRecord | VersionRecord)[]): Promise<void> {
    const todo = records.filter((r) => !this.#verified.has(r));
    if (todo.length === 0) return;
    await this.#inner.verifyRecords(state, todo);
    for (const r of todo) this.#verified.add(r);
  }

  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }> {
    return this.#inner.verifyAll(state);
  }

  async transact<T>(identity: Identity, change: (state: VaultState) => Promise<{ state: VaultState; result: T }>): Promise<T> {
    try {
      return await this.#inner.transact(identity, change);
    } finally {
      this.#stamp = undefined;
      this.#state = undefined;
      this.#stamping = undefined;
    }
  }

  create(identity: Identity, name: string, memberName: string): Promise<VaultState> {
    return this.#inner.create(identity, name, memberName);
  }
}

/**
 * The value cipher with what this identity decrypted kept per version record, for as long as
 * that record is in the current state (a WeakMap: a re-read vault drops it). The server's
 * identity can open every one of these values at any time anyway; keeping them saves an X25519
 * exchange per request. Every caller gets its own copy, which it may wipe.
 */
export class CachingCipher implements ValueCipher {
  readonly #inner: ValueCipher;
  readonly #opened = new WeakMap<VersionRecord, Uint8Array>();

  constructor(inner: ValueCipher) {
    this.#inner = inner;
  }

  seal(...args: Parameters<ValueCipher['seal']>): ReturnType<ValueCipher['seal']> {
    return this.#inner.seal(...args);
  }

  async open(version: VersionRecord, vaultId: string, identity: Identity): Promise<SecretBytes> {
    const hit = this.#opened.get(version);
    if (hit) return new SecretBytes(Uint8Array.from(hit));
    const value = await this.#inner.open(version, vaultId, identity);
    this.#opened.set(version, Uint8Array.from(value.reveal()));
    return value;
  }

  shareKey(...args: Parameters<ValueCipher['shareKey']>): ReturnType<ValueCipher['shareKey']> {
    return this.#inner.shareKey(...args);
  }

  memberIdentity(member: { id: string; enc: string; sign: string }): PublicIdentity {
    return this.#inner.memberIdentity(member);
  }
}

/** Facts of one request that its audit event carries. */
export interface RequestMeta {
  readonly sourceIPAddress: string;
  readonly userAgent: string;
  readonly requestId: string;
}

/** Longest User-Agent kept in an event. */
const MAX_USER_AGENT = 256;

/** The server's long-lived state. */
export interface ServeContext {
  readonly app: AppDeps;
  readonly identity: LoadedIdentity;
  readonly vaultId: string;
  readonly credentials: ServeCredentials;
  readonly vault: ServedVault;
  readonly trail: GroupCommitTrail;
  /** The core's ports for one request. */
  depsFor(meta: RequestMeta): CoreDeps;
  /** The acting member's name (for AccessDenied messages), or the identity id. */
  memberName(): Promise<string>;
}

/** Loads the identity and the vault once, and derives the credentials. */
export async function serveContext(app: AppDeps): Promise<ServeContext> {
  const identity = await app.identities.load();
  const vault = new ServedVault(app.vault);
  const state = await vault.read(identity.identity);
  // A non-member could only be refused, request after request: say so once, at the start.
  requireMember(state, identity.identity.id, vault.location);
  // The log itself (not the plain port): group commit holds it across consecutive batches.
  const trail = new GroupCommitTrail(app.auditLog());
  const cipher = new CachingCipher(app.cipher);
  const identities = { load: async () => identity, loadOrCreate: async () => ({ ...identity, created: false }) };
  return {
    app,
    identity,
    vaultId: state.vault.id,
    credentials: serveCredentials(identity.identity, state.vault.id),
    vault,
    trail,
    depsFor(meta) {
      const facts = { sourceIPAddress: meta.sourceIPAddress, userAgent: meta.userAgent.slice(0, MAX_USER_AGENT), requestId: meta.requestId };
      return {
        vault,
        identities,
        cipher,
        clock: app.clock,
        ids: app.ids,
        tty: false,
        audit: {
          append: (entry) => trail.append({ ...entry, ...facts }),
          appendAll: (entries) => trail.appendAll(entries.map((e) => ({ ...e, ...facts }))),
          lastAccess: (vaultId, secretId) => trail.lastAccess(vaultId, secretId),
        },
      };
    },
    async memberName() {
      const s = await vault.read(identity.identity);
      return s.members.find((m) => m.id === identity.identity.id)?.name ?? identity.identity.id;
    },
  };
}
