/**
 * The vault's records as the domain sees them. Binary fields stay base64 text (the codec has
 * checked that they are canonical); maps are Maps, so no key can reach an object prototype.
 * `sig` is absent on a record changed in memory and not yet signed: the repository signs every
 * such record, with this writer's id and counter, when it writes the file.
 */

/** Fields every stored record carries: writer id, writer counter, signature. */
export interface Signed {
  readonly by: string;
  readonly ctr: number;
  readonly sig?: string;
}

/** The genesis record: which vault this is. */
export interface VaultRecord extends Signed {
  readonly kind: 'vault';
  readonly id: string;
  readonly format: 1 | 2;
  /** Format 2: h(genesis line), the vault's identity, bound into every entry and value. */
  readonly hash?: string;
  readonly name: string;
  readonly created: string;
}

/** A member: an identity's public keys and roles. */
export interface MemberRecord extends Signed {
  readonly kind: 'member';
  readonly id: string;
  readonly name: string;
  /** X25519 public key, base64. */
  readonly enc: string;
  /** Ed25519 public key, base64. */
  readonly sign: string;
  /** `admin` or `member`. */
  readonly roles: readonly string[];
  readonly added: string;
  /** When the member was removed; a removed member reads nothing new and signs nothing valid. */
  readonly removed?: string;
  /** Ids of the secrets a removed member could read when removed (to rotate them). */
  readonly exposed?: readonly string[];
  /**
   * Signatures of secret and version records this member signed that an admin change left
   * without the permission they were written with (the member was removed, or a policy
   * narrowed). They stay valid under the member's name: history keeps its author, and no admin
   * vouches for it. The list is admin-signed, so the member's key cannot add to it.
   */
  readonly kept?: readonly string[];
  /**
   * Ids of secrets whose record this member wrote last before such a change: its rotation
   * handler, tags and description are on hold (not run, not trusted by policy conditions)
   * until an admin confirms them.
   */
  readonly held?: readonly string[];
}

/** Signatures one member record may keep valid (91 bytes each, well inside one line). */
export const MAX_KEPT = 8_000;

/**
 * A policy document, admin-signed. An identity policy has a `name` and is attached to members;
 * a resource policy belongs to one secret (`secret` = its id) and names its principals.
 */
export interface PolicyRecord extends Signed {
  readonly kind: 'policy';
  readonly name?: string;
  readonly secret?: string;
  /** The IAM document as JSON. */
  readonly doc: unknown;
  /** Member ids an identity policy is attached to. */
  readonly attached: readonly string[];
  readonly changed: string;
}

/** The head: the last writer's signed statement of every writer's counter and the file digest. */
export interface HeadRecord extends Signed {
  readonly kind: 'head';
  readonly ctrs: ReadonlyMap<string, number>;
  /** SHA-256 (hex) over every other record line of the file, in order. */
  readonly digest: string;
  readonly at: string;
  /**
   * Audit anchors: audit log id → `<seq>:<hash>` of its last event when a writer on that machine
   * last wrote the vault. Signed, so truncating or rewriting an anchored log is detected.
   */
  readonly audit?: ReadonlyMap<string, string>;
}

import type { RotationConfig } from './rotation.js';

/** A secret's metadata (plaintext, signed): name, description, tags, stage labels, deletion, rotation. */
export interface SecretRecord extends Signed {
  readonly kind: 'secret';
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly tags: ReadonlyMap<string, string>;
  /** Staging label → version id. */
  readonly stages: ReadonlyMap<string, string>;
  readonly created: string;
  readonly changed: string;
  /** When the secret was deleted (scheduled for purge), if it is. */
  readonly deleted?: string;
  /** When a deleted secret is purged for good. */
  readonly purge?: string;
  /** The action of the last change (e.g. `TagResource`); the signer must be allowed it. */
  readonly act?: string;
  /** How and when the secret rotates, if it does. */
  readonly rotation?: RotationConfig;
  /**
   * Restored from a backup: its dates (created, its versions' and its rotation's) are the
   * backup's, and a format-2 vault records them in the ops that make it.
   */
  readonly restored?: true;
}

/** One encrypted version of a secret's value. */
export interface VersionRecord extends Signed {
  readonly kind: 'version';
  readonly secret: string;
  readonly id: string;
  readonly created: string;
  readonly type: 'string' | 'binary';
  /** Nonce, base64. */
  readonly n: string;
  /** Ciphertext, base64. */
  readonly ct: string;
  /** Reader id → sealed data key, base64. */
  readonly keys: ReadonlyMap<string, string>;
  /** The action that wrote the value (e.g. `PutSecretValue`); the signer must be allowed it. */
  readonly act?: string;
  /**
   * Format 2: the vault's h(genesis). The value's AAD then binds it and the writer (`by`), so
   * no one else can attach this ciphertext to an op of theirs.
   */
  readonly bound?: string;
}

export type VaultFileRecord = VaultRecord | MemberRecord | PolicyRecord | HeadRecord | SecretRecord | VersionRecord;

/** A secret with its versions, oldest first. */
export interface SecretEntry {
  readonly secret: SecretRecord;
  readonly versions: readonly VersionRecord[];
}

/** The whole vault in memory. Immutable: changes build a new state. */
export interface VaultState {
  readonly vault: VaultRecord;
  readonly members: readonly MemberRecord[];
  /** Identity policies and resource policies. */
  readonly policies: readonly PolicyRecord[];
  readonly head: HeadRecord;
  /** Secrets sorted by name. */
  readonly secrets: readonly SecretEntry[];
}

/** Strips `sig`, `by` and `ctr` so the repository re-signs the record on write. */
export type Unsigned<T extends Signed> = Omit<T, 'sig' | 'by' | 'ctr'> & { readonly by?: string; readonly ctr?: number };
