/**
 * The ports through which the pure core reaches the world. Adapters implement them; the
 * composition root (app/compose.ts) wires them. Unit tests use in-memory fakes.
 */
import type { SecretRecord, VaultState, VersionRecord } from './model.js';
import type { PendingRequest, RotationRequest, RotationStep } from './rotation.js';
import type { SecretBytes } from './secret-bytes.js';

/** The public half of an identity. */
export interface PublicIdentity {
  readonly id: string;
  /** X25519 public key. */
  readonly enc: Uint8Array;
  /** Ed25519 public key. */
  readonly sign: Uint8Array;
}

/** An identity able to open data keys and sign records. */
export interface Identity extends PublicIdentity {
  readonly seed: SecretBytes;
  readonly encSecret: SecretBytes;
  readonly signSecret: SecretBytes;
}

/** Where the identity came from, for messages and `doctor`. */
export type IdentitySourceKind = 'env' | 'file' | 'keychain' | 'fallback-file';

/** A loaded identity and how it was found. */
export interface LoadedIdentity {
  readonly identity: Identity;
  readonly source: IdentitySourceKind;
  /** Human description: "OS keychain (service secrets)", a file path, "SECRETS_IDENTITY_KEY". */
  readonly where: string;
}

/** Finds this machine's identity, or creates one (init). */
export interface IdentityProvider {
  /** Loads the identity; throws IDENTITY_UNAVAILABLE / KEYCHAIN_UNAVAILABLE (exit 7). */
  load(): Promise<LoadedIdentity>;
  /** Loads the identity if one exists; otherwise creates and stores one. Warnings go to `warn`. */
  loadOrCreate(warn: (message: string) => void): Promise<LoadedIdentity & { readonly created: boolean }>;
}

/** Value encryption for the core: seal to readers, open with this identity. */
export interface ValueCipher {
  seal(
    value: SecretBytes,
    ctx: {
      vaultId: string;
      secretId: string;
      versionId: string;
      type: 'string' | 'binary';
      /** Format 2: h(genesis) and the writer, bound into the AAD. */
      bound?: { vault: string; writer: string };
    },
    readers: readonly PublicIdentity[],
  ): Promise<{ n: string; ct: string; keys: ReadonlyMap<string, string> }>;
  open(version: VersionRecord, vaultId: string, identity: Identity): Promise<SecretBytes>;
  /**
   * Opens the version's data key with `identity`, checks it decrypts the value, and seals it to
   * `readers`. Returns their sealed keys. Throws DECRYPTION_FAILED when `identity` holds none.
   */
  shareKey(version: VersionRecord, vaultId: string, identity: Identity, readers: readonly PublicIdentity[]): Promise<ReadonlyMap<string, string>>;
  /** Public identity of a member record. */
  memberIdentity(member: { id: string; enc: string; sign: string }): PublicIdentity;
}

/** The vault file: verified reads, locked read-modify-write transactions. */
export interface VaultRepository {
  /** Where the vault lives (for messages). */
  readonly location: string;
  exists(): Promise<boolean>;
  /** Reads and verifies the vault (genesis, members, head signature, digest, counters, rollback). */
  read(identity: Identity): Promise<VaultState>;
  /**
   * Like `read`, verified the same way, but the state holds only the named secrets (those that
   * exist). Optional: a repository without it is read whole.
   */
  readSome?(identity: Identity, names: readonly string[]): Promise<VaultState>;
  /** Verifies the signatures of records a command is about to rely on. */
  verifyRecords(state: VaultState, records: readonly (SecretRecord | VersionRecord)[]): Promise<void>;
  /** Verifies every record's signature and authorization (doctor, verify); lists what fails. */
  verifyAll(state: VaultState): Promise<{ checked: number; problems: string[] }>;
  /**
   * Locks, reads, verifies, applies `change`, signs changed records, writes atomically, unlocks.
   * `change` returns the new state (or the same object for "no change") and a result.
   */
  transact<T>(
    identity: Identity,
    change: (state: VaultState) => Promise<{ state: VaultState; result: T }>,
    /**
     * The secrets the change is about, when it is about a few: a repository may then give
     * `change` a state that holds only those (and the members and policies), and write faster.
     */
    scope?: { readonly names: readonly string[] },
  ): Promise<T>;
  /** Creates a new vault file (format 2; this version makes no format-1 vault); refuses (exit 4) if one exists. */
  create(identity: Identity, name: string, memberName: string, format?: 1 | 2): Promise<VaultState>;
}

/** Wall-clock time. */
export interface Clock {
  now(): Date;
}

/** Ids: random UUIDs for versions, and a secret's id derived from its vault and name. */
export interface IdSource {
  newId(): string;
  /**
   * The id a new secret called `name` gets in this vault. Derived, so that a reader can check a
   * secret's name against its id: no writer can rename a secret into a scope of theirs (the id
   * is bound into every version's encryption). Format 1 derives it from the vault's UUID,
   * format 2 from h(genesis).
   */
  secretId(vault: { readonly id: string; readonly hash?: string }, name: string): string;
}

/** A platform credential store (OS keychain). Throws KEYCHAIN_UNAVAILABLE when unreachable. */
export interface Keychain {
  /** Human name for messages ("OS keychain (Secret Service)"). */
  readonly description: string;
  /** The stored secret, or null when the store has no such entry (or, for keytar, is locked). */
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

/** What the core knows about an event; the adapter adds time, host, pid, user, tty, ids and the chain. */
export interface AuditEntry {
  readonly vaultId: string;
  readonly eventName: string;
  readonly principal: { readonly id: string; readonly name?: string };
  readonly secretName?: string;
  readonly secretId?: string;
  readonly versionId?: string;
  readonly versionStage?: readonly string[];
  readonly outcome: 'success' | 'denied' | 'error';
  readonly errorCode?: string;
  /** For exec: the program started (never its arguments). */
  readonly command?: string;
  /** For member and policy changes: the member or policy acted on. */
  readonly target?: string;
  /** For requests to `secrets serve`: the client's address. */
  readonly sourceIPAddress?: string;
  /** For requests to `secrets serve`: the client's User-Agent header (shortened). */
  readonly userAgent?: string;
  /** For requests to `secrets serve`: the request's own id (otherwise the process's). */
  readonly requestId?: string;
}

/** The durable, append-only trail. `append` returns only once the event is on disk. */
export interface AuditTrail {
  append(entry: AuditEntry): Promise<void>;
  /** Appends several events with one lock and one fsync (import, export, exec of a prefix). */
  appendAll(entries: readonly AuditEntry[]): Promise<void>;
  /** When this machine last read the secret's value (for `describe`), if ever. */
  lastAccess(vaultId: string, secretId: string): Promise<string | undefined>;
}

/**
 * One rotation handler (password, postgres, mysql, command:NAME). Each step must be safe to run again after a crash at any point: setSecret first
 * checks whether the pending value already works. Failures throw SecretsError('ROTATION_FAILED').
 */
export interface RotationHandler {
  /** Makes the new value (stored as PENDING before anything external changes). */
  createSecret(req: RotationRequest): Promise<SecretBytes>;
  /** Applies the pending value to the service. */
  setSecret(req: PendingRequest): Promise<void>;
  /** Logs in with the pending value. */
  testSecret(req: PendingRequest): Promise<void>;
  /** Anything the service needs once the pending value is CURRENT (usually nothing). */
  finishSecret(req: PendingRequest): Promise<void>;
}

/**
 * This machine's choice of program for each local handler name. Only the machine's user writes
 * it; a vault can name a handler but never say what it runs.
 */
export interface HandlerAllowlist {
  /** The program `name` means here, or undefined if this machine has not allowed it. */
  lookup(name: string): string | undefined;
}

/** Finds handlers by name, loading their drivers only when used. */
export interface RotationHandlers {
  /** Throws USAGE for an unknown handler name. */
  load(handler: string): Promise<RotationHandler>;
  /** Validates a handler name at configuration time (USAGE if unknown or unusable). */
  check(handler: string): void;
}

/** Test hook: called before and after each rotation step (the composition root wires a fault injector to it). */
export type RotationProbe = (step: RotationStep, phase: 'before' | 'after') => void;
