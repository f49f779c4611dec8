/**
 * The lines of a format-2 vault (docs/decisions/0018-operation-log.md) as the domain sees them:
 * three kinds of signed entry (`op`, `merge`, `checkpoint`), the nodes of an append-only,
 * hash-linked history, and the unsigned payloads (`value`, `keys`) an entry binds by hash.
 * Types and small pure helpers only: the codec parses lines into these, replay folds them.
 */
import type { RotationConfig } from './rotation.js';

/** A member's public identity as an op carries it. */
export interface MemberKeys {
  readonly id: string;
  readonly name: string;
  /** X25519 public key, base64. */
  readonly enc: string;
  /** Ed25519 public key, base64. */
  readonly sign: string;
}

/** A new version's payloads: its id, value type and the hashes of its `value` and `keys` lines. */
export interface VersionRef {
  readonly version: string;
  readonly type: 'string' | 'binary';
  /** h(value line). */
  readonly v: string;
  /** h(keys line). */
  readonly k: string;
  /**
   * When the version was made, when that was before this op (a version restored from a
   * backup); never after the op's time. Absent: the op's time.
   */
  readonly created?: string;
}

/** Rotation settings as an op sets them; replay adds when (`since`) and who. */
export type RotationSpec = Omit<RotationConfig, 'since' | 'last'>;

/** A data op names its secret by id, and by name so that a diff reads well. */
export interface SecretRef {
  readonly secret: string;
  readonly name: string;
}

/** Each action's body: only the fields the action changes. */
export interface OpBodies {
  /** `from`: the SHA-256 of the format-1 file a migration converted (base64). */
  readonly CreateVault: { readonly vault: string; readonly name: string; readonly format: 2; readonly creator: MemberKeys; readonly from?: string };
  readonly AddMember: { readonly member: MemberKeys; readonly roles: readonly string[] };
  readonly RemoveMember: { readonly member: string };
  readonly SetRole: { readonly member: string; readonly roles: readonly string[] };
  readonly PutPolicy: { readonly policy: string; readonly doc: unknown };
  readonly DeletePolicy: { readonly policy: string };
  readonly AttachPolicy: { readonly policy: string; readonly member: string };
  readonly DetachPolicy: { readonly policy: string; readonly member: string };
  readonly PutResourcePolicy: SecretRef & { readonly doc: unknown };
  readonly DeleteResourcePolicy: SecretRef;
  readonly CreateSecret: SecretRef & {
    /** When the secret was made, for one restored from a backup (not after the op); absent: the op's time. */
    readonly created?: string;
    readonly description?: string;
    readonly tags?: ReadonlyMap<string, string>;
    readonly value?: VersionRef;
  };
  readonly PutSecretValue: SecretRef & { readonly value: VersionRef; readonly stages?: readonly string[] };
  readonly UpdateSecret: SecretRef & { readonly description?: string; readonly value?: VersionRef };
  readonly TagResource: SecretRef & { readonly tags: ReadonlyMap<string, string> };
  readonly UntagResource: SecretRef & { readonly keys: readonly string[] };
  /** Moves `stage` to `version`, or removes it from the secret when `version` is absent. */
  readonly UpdateSecretVersionStage: SecretRef & { readonly stage: string; readonly version?: string };
  /** `days` is the recovery window; 0 deletes without recovery. */
  readonly DeleteSecret: SecretRef & { readonly days: number };
  readonly RestoreSecret: SecretRef;
  /**
   * Rotation, in up to three steps a rotation run writes as separate ops: `rotation` sets the
   * settings; `value` adds a version labelled PENDING; `finish` moves CURRENT to that version,
   * drops PENDING and records the rotation's time.
   */
  readonly RotateSecret: SecretRef & {
    readonly rotation?: RotationSpec;
    /** With `rotation` restored from a backup: when it was set and last ran (not after the op). */
    readonly since?: string;
    readonly last?: string;
    readonly value?: VersionRef;
    readonly finish?: string;
  };
  /** Turns automatic rotation off and drops a PENDING label. */
  readonly CancelRotateSecret: SecretRef;
  /** An admin vouches for a secret's tags, description and rotation after their writer was removed. */
  readonly ConfirmSecret: SecretRef;
  /** An admin re-seals existing versions: version id → h(new keys line). */
  readonly Reseal: SecretRef & { readonly keys: ReadonlyMap<string, string> };
}

/** Every action an `op` entry can carry. */
export type Action = keyof OpBodies;

/** Admin-only actions on members and policies. */
export const GOVERNANCE_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  'CreateVault',
  'AddMember',
  'RemoveMember',
  'SetRole',
  'PutPolicy',
  'DeletePolicy',
  'AttachPolicy',
  'DetachPolicy',
  'PutResourcePolicy',
  'DeleteResourcePolicy',
]);

/** The AWS actions on one secret. */
export const DATA_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  'CreateSecret',
  'PutSecretValue',
  'UpdateSecret',
  'TagResource',
  'UntagResource',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RestoreSecret',
  'RotateSecret',
  'CancelRotateSecret',
  'ConfirmSecret',
  'Reseal',
]);

/** Data ops on one secret that only an admin may sign. */
export const ADMIN_DATA_ACTIONS: ReadonlySet<Action> = new Set<Action>(['ConfirmSecret', 'Reseal']);

/** Every action replay knows; an op naming another is refused. */
export const ACTIONS: ReadonlySet<string> = new Set<string>([...GOVERNANCE_ACTIONS, ...DATA_ACTIONS]);

/** Fields every entry carries besides its kind. */
interface EntryCommon {
  /** The signer's member id. */
  readonly by: string;
  /** Above every `seq` of the same signer among the entry's ancestors. */
  readonly seq: number;
  /** Hashes of the entries this one extends: sorted, no repeats; empty only for the genesis. */
  readonly parents: readonly string[];
  /** ISO time, for people and recovery windows; never orders entries. */
  readonly at: string;
  /** `<log id>:<seq>:<sha256>`: the signer's own audit anchor. */
  readonly audit?: string;
  readonly sig: string;
}

/** One action with its body. */
export type OpOf<A extends Action> = EntryCommon & { readonly kind: 'op'; readonly op: A; readonly body: OpBodies[A] };

/** An `op` entry: the union over every action, so `op` narrows `body`. */
export type OpEntry = { [A in Action]: OpOf<A> }[Action];

/** Joins heads; changes no state. */
export interface MergeEntry extends EntryCommon {
  readonly kind: 'merge';
}

/** An admin's summary of the state at its single parent (core/checkpoint.ts). */
export interface CheckpointEntry extends EntryCommon {
  readonly kind: 'checkpoint';
  /** SHA-256 over the canonical `state` lines. */
  readonly state: string;
  readonly secrets: number;
  readonly seqs: ReadonlyMap<string, number>;
  /** SHA-256 over the hashes of every accepted governance entry, in replay order. */
  readonly gov: string;
  readonly anchors: ReadonlyMap<string, string>;
  readonly from?: string;
}

/** A signed node of the history. */
export type Entry = OpEntry | MergeEntry | CheckpointEntry;

/** One version's ciphertext. */
export interface ValuePayload {
  readonly kind: 'value';
  readonly n: string;
  readonly ct: string;
}

/** Who can open a version: member id → sealed data key. */
export interface KeysPayload {
  readonly kind: 'keys';
  readonly keys: ReadonlyMap<string, string>;
}

/** An unsigned line an entry binds by hash. */
export type Payload = ValuePayload | KeysPayload;

/**
 * An entry as the log store hands it to replay: parsed, and named by `hash` = h(line), which
 * the store computed. Its signature is checked by replay through a `SignatureCheck`, since the
 * key to check it with is the signer's key in the state before it.
 */
export interface LogEntry {
  readonly hash: string;
  readonly entry: Entry;
}

/**
 * Whether `entry.sig` verifies with the Ed25519 public key `signKey` (base64) over the framed
 * entry (the store's crypto does it; core stays free of crypto). `G` is empty for the genesis.
 */
export type SignatureCheck = (entry: LogEntry, signKey: string, vaultHash: string) => boolean;

/**
 * Replay order classes (§3): revocations first, then other governance, then what condition
 * keys read, then other data, then deletes, then merges and checkpoints.
 */
export function classOf(entry: Entry): number {
  if (entry.kind !== 'op') return 5;
  if (entry.op === 'RemoveMember') return 0;
  if (GOVERNANCE_ACTIONS.has(entry.op)) return 1;
  if (isAccessRelevant(entry)) return 2;
  if (entry.op === 'DeleteSecret') return 4;
  return 3;
}

/** Data ops that change what condition keys read: tags, and a description. */
export function isAccessRelevant(entry: Entry): boolean {
  if (entry.kind !== 'op') return false;
  if (entry.op === 'TagResource' || entry.op === 'UntagResource' || entry.op === 'ConfirmSecret') return true;
  return entry.op === 'UpdateSecret' && entry.body.description !== undefined;
}

/** Whether an entry is a governance op (classes 0 and 1). */
export function isGovernance(entry: Entry): boolean {
  return entry.kind === 'op' && GOVERNANCE_ACTIONS.has(entry.op);
}

/** The version a data op introduces, if any. */
export function versionOf(entry: Entry): VersionRef | undefined {
  if (entry.kind !== 'op') return undefined;
  switch (entry.op) {
    case 'CreateSecret':
    case 'UpdateSecret':
      return entry.body.value;
    case 'PutSecretValue':
    case 'RotateSecret':
      return entry.body.value;
    default:
      return undefined;
  }
}

/** Every payload an entry binds: hash and kind. */
export function payloadsOf(entry: Entry): { readonly hash: string; readonly kind: Payload['kind'] }[] {
  const version = versionOf(entry);
  if (version)
    return [
      { hash: version.v, kind: 'value' },
      { hash: version.k, kind: 'keys' },
    ];
  if (entry.kind === 'op' && entry.op === 'Reseal') return [...entry.body.keys.values()].map((hash) => ({ hash, kind: 'keys' as const }));
  return [];
}

/** The secret id a data op (or a resource-policy op) is about. */
export function secretOf(entry: Entry): SecretRef | undefined {
  if (entry.kind !== 'op' || !(DATA_ACTIONS.has(entry.op) || entry.op === 'PutResourcePolicy' || entry.op === 'DeleteResourcePolicy')) return undefined;
  const body = entry.body as SecretRef;
  return { secret: body.secret, name: body.name };
}
