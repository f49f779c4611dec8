/**
 * The state a format-2 log replays to, and the one function that applies an accepted entry to
 * it. Immutable: `applyEntry` returns a new state and shares what it did not change.
 * Authorization is not here (replay.ts asks it first); `applyEntry` refuses only what cannot
 * apply to this state at all (a secret that is gone, a version that exists, a name in use).
 */
import { mayEverRecorded } from './access.js';
import { SecretsError } from './errors.js';
import type { Entry, MemberKeys, OpEntry, OpOf, VersionRef } from './ops.js';
import { MAX_TAGS, MAX_VERSIONS } from './names.js';
import { PMap } from './pmap.js';
import type { RotationConfig } from './rotation.js';
import { CURRENT, moveLabel, PENDING, stagesForNewVersion } from './versions.js';

/** A member: keys, roles, and since when they are removed (removal is final). */
export interface MemberState extends MemberKeys {
  readonly roles: readonly string[];
  readonly added: string;
  readonly removed?: string;
  /** Ids of the secrets they could read when removed (to rotate them). */
  readonly exposed?: readonly string[];
}

/** An identity policy (attached to members) or a resource policy (of one secret). */
export interface PolicyState {
  readonly name?: string;
  readonly secret?: string;
  readonly doc: unknown;
  /** Member ids, sorted; always empty for a resource policy. */
  readonly attached: readonly string[];
  /** When its document or attachments last changed (absent in a state saved before it was kept). */
  readonly changed?: string;
}

/** One version of a secret: who introduced it, and the hashes of its payloads. */
export interface VersionState {
  readonly id: string;
  readonly at: string;
  readonly by: string;
  readonly type: 'string' | 'binary';
  readonly v: string;
  readonly k: string;
  /** The entry that introduced it (absent for a version migrated from format 1: no entry did), and its action. */
  readonly entry?: string;
  readonly act: string;
  /**
   * 1 for a version carried over from format 1 by migration: its ciphertext keeps format 1's
   * AAD (vault UUID, secret, version, type), without G or the writer.
   */
  readonly aad?: 1;
}

/** A secret as replay left it. */
export interface SecretState {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly tags: ReadonlyMap<string, string>;
  /** Staging label → version id. */
  readonly stages: ReadonlyMap<string, string>;
  /** Oldest first. */
  readonly versions: readonly VersionState[];
  readonly created: string;
  /** Scheduled for deletion: when, until when it can be restored, and by which entry. */
  readonly deleted?: { readonly at: string; readonly purge: string; readonly entry: string };
  /** How and when it rotates, and who set that (a rotation acts with their authority). */
  readonly rotation?: RotationConfig & { readonly by: string };
  /**
   * Who last set what policies read of it or what its rotation does (tags, description,
   * rotation), or last confirmed them. If that member is removed, the secret is held.
   */
  readonly setBy: string;
}

/** The replayed vault. Maps are persistent, so the states of two branches share structure. */
export interface ReplayState {
  /** h(genesis): the vault's identity. Empty before the genesis. */
  readonly vault: string;
  /** The vault's UUID, its name in messages; secret ids derive from it. */
  readonly id: string;
  readonly name: string;
  readonly creator: string;
  readonly members: PMap<MemberState>;
  /** Identity policies by name. */
  readonly policies: PMap<PolicyState>;
  /** Resource policies by secret id. */
  readonly resourcePolicies: PMap<PolicyState>;
  /** Secrets by id. */
  readonly secrets: PMap<SecretState>;
  /** Secret name → the id of the latest secret of that name (live or not). */
  readonly names: PMap<string>;
  /** Member id → the audit anchor of their latest accepted entry that carried one. */
  readonly anchors: PMap<string>;
}

/** The state before the genesis. */
export const EMPTY_STATE: ReplayState = {
  vault: '',
  id: '',
  name: '',
  creator: '',
  members: PMap.empty(),
  policies: PMap.empty(),
  resourcePolicies: PMap.empty(),
  secrets: PMap.empty(),
  names: PMap.empty(),
  anchors: PMap.empty(),
};

/** Whether a member is current (not removed). */
export function isCurrent(m: MemberState | undefined): m is MemberState {
  return m !== undefined && m.removed === undefined;
}

/** Whether a secret still holds its name at `at`: it exists and is not past its purge time. */
export function isLive(s: SecretState, at: string): boolean {
  return s.deleted === undefined || s.deleted.purge > at;
}

/** The live secret of this name at `at`, if any. */
export function secretNamed(state: ReplayState, name: string, at: string): SecretState | undefined {
  const id = state.names.get(name);
  const s = id === undefined ? undefined : state.secrets.get(id);
  return s !== undefined && s.name === name && isLive(s, at) ? s : undefined;
}

/**
 * Whether a secret is held: the member who last set its tags, description or rotation was
 * removed, and no admin has confirmed them since. Its handler then does not run, and what
 * policies read of it counts against a request, never for it.
 */
export function isHeld(state: ReplayState, s: SecretState): boolean {
  return state.members.get(s.setBy)?.removed !== undefined;
}

/** A state as policy evaluation reads it (core/access.ts): members and policies as lists. */
export function policyView(state: ReplayState): { members: MemberState[]; policies: PolicyState[] } {
  return { members: [...state.members.values()], policies: [...state.policies.values(), ...state.resourcePolicies.values()] };
}

/** Whether the vault gives `member` the data keys of `secret` in `state`. */
export function mayReadSecret(state: ReplayState, member: MemberState, secret: SecretState): boolean {
  return member.removed === undefined && mayEverRecorded(policyView(state), member, 'GetSecretValue', secret, isHeld(state, secret));
}

/** The current members who receive the data keys of `secret` in `state`, sorted by id. */
export function readersOfSecret(state: ReplayState, secret: SecretState): string[] {
  return [...state.members.values()]
    .filter((m) => mayReadSecret(state, m, secret))
    .map((m) => m.id)
    .sort(byText);
}

/** Current admins. */
export function adminsOf(state: ReplayState): string[] {
  return [...state.members.values()].filter((m) => isCurrent(m) && m.roles.includes('admin')).map((m) => m.id);
}

/** The outcome of applying one entry: a new state, or why it does not apply. */
export type Applied = { readonly state: ReplayState } | { readonly problem: string };

const DAY_MS = 86_400_000;

/** The purge time of a delete with a recovery window of `days` at `at`. */
export function purgeTime(at: string, days: number): string {
  return new Date(Date.parse(at) + days * DAY_MS).toISOString();
}

function withSecret(state: ReplayState, s: SecretState): Applied {
  return { state: { ...state, secrets: state.secrets.set(s.id, s) } };
}

/** Drops the oldest unlabeled versions beyond MAX_VERSIONS (a rule of replay, not an op). */
function prune(versions: readonly VersionState[], stages: ReadonlyMap<string, string>): VersionState[] {
  const labelled = new Set(stages.values());
  let excess = versions.length - MAX_VERSIONS;
  return versions.filter((v) => {
    if (excess <= 0 || labelled.has(v.id)) return true;
    excess--;
    return false;
  });
}

function addVersion(s: SecretState, e: OpEntry, hash: string, value: VersionRef, labels: readonly string[]): SecretState | string {
  if (s.versions.some((v) => v.id === value.version)) return `version ${value.version} of ${s.name} exists already`;
  const stages = stagesForNewVersion(s.stages, value.version, labels);
  // A new CURRENT written by hand while a rotation is pending abandons the rotation, as in AWS:
  // its PENDING label goes (the version stays).
  const pending = stages.get(PENDING);
  if (e.op !== 'RotateSecret' && stages.get(CURRENT) === value.version && pending !== undefined && pending !== value.version) stages.delete(PENDING);
  if (value.created !== undefined && value.created > e.at) return `version ${value.version} of ${s.name} is dated after its entry`;
  const version: VersionState = { id: value.version, at: value.created ?? e.at, by: e.by, type: value.type, v: value.v, k: value.k, entry: hash, act: e.op };
  return { ...s, stages, versions: prune([...s.versions, version], stages) };
}

/** The existing, not-deleted secret a data op is about, or why there is none. */
function target(state: ReplayState, e: OpEntry & { readonly body: { readonly secret: string; readonly name: string } }): SecretState | string {
  const s = state.secrets.get(e.body.secret);
  if (s === undefined || !isLive(s, e.at)) return `secret ${e.body.name} does not exist`;
  if (s.deleted !== undefined) return `secret ${e.body.name} is scheduled for deletion`;
  return s;
}

/** A rotation step applied to a secret. */
function rotate(s: SecretState, e: OpOf<'RotateSecret'>, hash: string): SecretState | string {
  let next: SecretState = s;
  const { since = e.at, last } = e.body;
  if (since > e.at || (last !== undefined && last > e.at)) return `the rotation of ${s.name} is dated after its entry`;
  if ((e.body.since !== undefined || last !== undefined) && e.body.rotation === undefined) return `the rotation dates of ${s.name} come without its settings`;
  if (e.body.rotation) next = { ...next, rotation: { ...e.body.rotation, since, ...(last !== undefined ? { last } : {}), by: e.by }, setBy: e.by };
  if (e.body.value) {
    const r = addVersion(next, e, hash, e.body.value, [PENDING]);
    if (typeof r === 'string') return r;
    next = r;
  }
  if (e.body.finish !== undefined) {
    const to = e.body.finish;
    if (!next.versions.some((v) => v.id === to)) return `secret ${s.name} has no version ${to}`;
    if (next.rotation === undefined) return `secret ${s.name} has no rotation to finish`;
    next = { ...next, stages: moveLabel(moveLabel(next.stages, CURRENT, to), PENDING, undefined), rotation: { ...next.rotation, last: e.at } };
  }
  return next;
}

/** Applies a data op to its secret. */
function applyData(state: ReplayState, e: OpEntry, hash: string, s: SecretState): SecretState | string {
  switch (e.op) {
    case 'PutSecretValue':
      return addVersion(s, e, hash, e.body.value, e.body.stages ?? []);
    case 'UpdateSecret': {
      const described: SecretState = e.body.description !== undefined ? { ...s, description: e.body.description, setBy: e.by } : s;
      return e.body.value ? addVersion(described, e, hash, e.body.value, []) : described;
    }
    case 'TagResource': {
      const tags = new Map(s.tags);
      for (const [k, v] of e.body.tags) tags.set(k, v);
      if (tags.size > MAX_TAGS) return `secret ${s.name} would carry more than ${MAX_TAGS} tags`;
      return { ...s, tags, setBy: e.by };
    }
    case 'UntagResource': {
      const tags = new Map(s.tags);
      for (const k of e.body.keys) tags.delete(k);
      return { ...s, tags, setBy: e.by };
    }
    case 'UpdateSecretVersionStage': {
      const to = e.body.version;
      if (to !== undefined && !s.versions.some((v) => v.id === to)) return `secret ${s.name} has no version ${to}`;
      return { ...s, stages: moveLabel(s.stages, e.body.stage, to) };
    }
    case 'DeleteSecret':
      return { ...s, deleted: { at: e.at, purge: purgeTime(e.at, e.body.days), entry: hash } };
    case 'RotateSecret':
      return rotate(s, e, hash);
    case 'CancelRotateSecret': {
      if (s.rotation === undefined) return `secret ${s.name} has no rotation`;
      return { ...s, rotation: { ...s.rotation, enabled: false }, stages: moveLabel(s.stages, PENDING, undefined), setBy: e.by };
    }
    case 'ConfirmSecret':
      return { ...s, setBy: e.by };
    case 'Reseal': {
      const versions = s.versions.map((v) => {
        const k = e.body.keys.get(v.id);
        return k === undefined ? v : { ...v, k };
      });
      const missing = [...e.body.keys.keys()].find((id) => !s.versions.some((v) => v.id === id));
      return missing !== undefined ? `secret ${s.name} has no version ${missing}` : { ...s, versions };
    }
    default:
      return `${e.op} is not a data op`;
  }
}

/**
 * Applies one entry to `state`. The caller has authorised it; this checks only that it applies
 * (so a dropped entry's dependants drop in turn: the version or member they need is missing).
 */
export function applyEntry(state: ReplayState, hash: string, entry: Entry): Applied {
  if (entry.kind !== 'op') return { state };
  try {
    const r = applyOp(state, hash, entry);
    if (!('state' in r) || entry.audit === undefined) return r;
    return { state: { ...r.state, anchors: r.state.anchors.set(entry.by, entry.audit) } };
  } catch (err) {
    // A limit the op would break (labels, say) is a reason it does not apply, not a crash.
    if (err instanceof SecretsError) return { problem: err.message };
    throw err;
  }
}

function applyOp(state: ReplayState, hash: string, e: OpEntry): Applied {
  switch (e.op) {
    case 'CreateVault': {
      if (state.vault !== '') return { problem: 'the vault exists already' };
      const c = e.body.creator;
      const creator: MemberState = { id: c.id, name: c.name, enc: c.enc, sign: c.sign, roles: ['admin'], added: e.at };
      return { state: { ...EMPTY_STATE, vault: hash, id: e.body.vault, name: e.body.name, creator: c.id, members: EMPTY_STATE.members.set(c.id, creator) } };
    }
    case 'AddMember': {
      const m = e.body.member;
      if (state.members.has(m.id)) return { problem: `member ${m.id} was a member already (removal is final)` };
      const member: MemberState = { id: m.id, name: m.name, enc: m.enc, sign: m.sign, roles: [...e.body.roles].sort(), added: e.at };
      return { state: { ...state, members: state.members.set(m.id, member) } };
    }
    case 'RemoveMember': {
      const m = state.members.get(e.body.member);
      if (!isCurrent(m)) return { problem: `${e.body.member} is not a current member` };
      if (m.id === state.creator) return { problem: 'the creator cannot be removed' };
      if (m.id === e.by) return { problem: 'a member cannot remove themselves' };
      if (m.roles.includes('admin') && adminsOf(state).length <= 1) return { problem: 'the last admin cannot be removed' };
      const exposed = [...state.secrets.values()].filter((s) => isLive(s, e.at) && mayReadSecret(state, m, s)).map((s) => s.id);
      return { state: { ...state, members: state.members.set(m.id, { ...m, removed: e.at, exposed: exposed.sort(byText) }) } };
    }
    case 'SetRole': {
      const m = state.members.get(e.body.member);
      if (!isCurrent(m)) return { problem: `${e.body.member} is not a current member` };
      const roles = [...e.body.roles].sort();
      // The creator is the root of trust (ADR 0006): it stays an admin, as it stays a member.
      if (m.id === state.creator && !roles.includes('admin')) return { problem: 'the creator must stay an admin' };
      if (m.roles.includes('admin') && !roles.includes('admin') && adminsOf(state).length <= 1) return { problem: 'the last admin must stay an admin' };
      return { state: { ...state, members: state.members.set(m.id, { ...m, roles }) } };
    }
    case 'PutPolicy': {
      const old = state.policies.get(e.body.policy);
      const p: PolicyState = { name: e.body.policy, doc: e.body.doc, attached: old?.attached ?? [], changed: e.at };
      return { state: { ...state, policies: state.policies.set(e.body.policy, p) } };
    }
    case 'DeletePolicy':
      if (!state.policies.has(e.body.policy)) return { problem: `policy ${JSON.stringify(e.body.policy)} does not exist` };
      return { state: { ...state, policies: state.policies.delete(e.body.policy) } };
    case 'AttachPolicy':
    case 'DetachPolicy': {
      const p = state.policies.get(e.body.policy);
      if (p === undefined) return { problem: `policy ${JSON.stringify(e.body.policy)} does not exist` };
      if (!isCurrent(state.members.get(e.body.member))) return { problem: `${e.body.member} is not a current member` };
      const others = p.attached.filter((id) => id !== e.body.member);
      const attached = e.op === 'AttachPolicy' ? [...others, e.body.member].sort() : others;
      return { state: { ...state, policies: state.policies.set(e.body.policy, { ...p, attached, changed: e.at }) } };
    }
    case 'PutResourcePolicy':
      return {
        state: {
          ...state,
          resourcePolicies: state.resourcePolicies.set(e.body.secret, { secret: e.body.secret, doc: e.body.doc, attached: [], changed: e.at }),
        },
      };
    case 'DeleteResourcePolicy':
      if (!state.resourcePolicies.has(e.body.secret)) return { problem: `secret ${e.body.name} has no resource policy` };
      return { state: { ...state, resourcePolicies: state.resourcePolicies.delete(e.body.secret) } };
    case 'CreateSecret': {
      if (secretNamed(state, e.body.name, e.at) !== undefined) return { problem: `secret ${e.body.name} exists already` };
      if (e.body.created !== undefined && e.body.created > e.at) return { problem: `secret ${e.body.name} is dated after its entry` };
      const old = state.secrets.get(e.body.secret);
      if (old !== undefined && isLive(old, e.at)) return { problem: `secret id ${e.body.secret} is in use` };
      let s: SecretState = {
        id: e.body.secret,
        name: e.body.name,
        tags: e.body.tags ?? new Map(),
        stages: new Map(),
        versions: [],
        created: e.body.created ?? e.at,
        setBy: e.by,
        ...(e.body.description !== undefined ? { description: e.body.description } : {}),
      };
      if (e.body.value) {
        const r = addVersion(s, e, hash, e.body.value, []);
        if (typeof r === 'string') return { problem: r };
        s = r;
      }
      return { state: { ...state, secrets: state.secrets.set(s.id, s), names: state.names.set(s.name, s.id) } };
    }
    case 'RestoreSecret': {
      const s = state.secrets.get(e.body.secret);
      if (s?.deleted === undefined || !isLive(s, e.at)) return { problem: `secret ${e.body.name} is not scheduled for deletion` };
      const { deleted: _deleted, ...rest } = s;
      return withSecret(state, rest);
    }
    default: {
      const s = target(state, e);
      const r = typeof s === 'string' ? s : applyData(state, e, hash, s);
      return typeof r === 'string' ? { problem: r } : withSecret(state, r);
    }
  }
}

/** Undoes a delete that a concurrent change beat: the secret is as it was, not deleted. */
export function undoDelete(state: ReplayState, secretId: string, deleteEntry: string): ReplayState {
  const s = state.secrets.get(secretId);
  if (s?.deleted?.entry !== deleteEntry) return state;
  const { deleted: _deleted, ...rest } = s;
  return { ...state, secrets: state.secrets.set(secretId, rest) };
}

/** Code-unit order, the same on every machine. */
export function byText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The state as one canonical text (maps as sorted entry lists, object keys sorted), so two
 * replays can be compared byte for byte.
 */
export function canonicalState(state: ReplayState): string {
  return JSON.stringify(state, (_key, v: unknown) => {
    if (v instanceof Map || v instanceof PMap) return [...(v as ReadonlyMap<string, unknown>)].sort(([x], [y]) => byText(x, y));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([x], [y]) => byText(x, y)));
    return v;
  });
}
