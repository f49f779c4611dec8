/**
 * The state a format-2 log replays to, and the one function that applies an accepted entry to
 * it. Immutable: `applyEntry` returns a new state and shares what it did not change.
 * Authorization is not here (replay.ts asks it first); `applyEntry` refuses only what cannot
 * apply to this state at all (a secret that is gone, a version that exists, a name in use).
 */
import type { Entry, MemberKeys, OpEntry, OpOf } from './ops.js';
import { MAX_TAGS, MAX_VERSIONS } from './names.js';
import { moveLabel, stagesForNewVersion } from './versions.js';

/** A member: keys, roles, and since when they are removed (removal is final). */
export interface MemberState extends MemberKeys {
  readonly roles: readonly string[];
  readonly added: string;
  readonly removed?: string;
}

/** An identity policy (attached to members) or a resource policy (of one secret). */
export interface PolicyState {
  readonly name?: string;
  readonly secret?: string;
  readonly doc: unknown;
  /** Member ids, sorted; always empty for a resource policy. */
  readonly attached: readonly string[];
}

/** One version of a secret: who introduced it, and the hashes of its payloads. */
export interface VersionState {
  readonly id: string;
  readonly at: string;
  readonly by: string;
  readonly type: 'string' | 'binary';
  readonly v: string;
  readonly k: string;
  /** The entry that introduced it. */
  readonly entry: string;
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
}

/** The replayed vault. */
export interface ReplayState {
  /** h(genesis): the vault's identity. Empty before the genesis. */
  readonly vault: string;
  readonly name: string;
  readonly creator: string;
  readonly members: ReadonlyMap<string, MemberState>;
  /** Identity policies by name. */
  readonly policies: ReadonlyMap<string, PolicyState>;
  /** Resource policies by secret id. */
  readonly resourcePolicies: ReadonlyMap<string, PolicyState>;
  /** Secrets by id. */
  readonly secrets: ReadonlyMap<string, SecretState>;
}

/** The state before the genesis. */
export const EMPTY_STATE: ReplayState = {
  vault: '',
  name: '',
  creator: '',
  members: new Map(),
  policies: new Map(),
  resourcePolicies: new Map(),
  secrets: new Map(),
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
  for (const s of state.secrets.values()) if (s.name === name && isLive(s, at)) return s;
  return undefined;
}

/** A state as policy evaluation reads it (core/access.ts): members and policies as lists. */
export function policyView(state: ReplayState): { members: MemberState[]; policies: PolicyState[] } {
  return { members: [...state.members.values()], policies: [...state.policies.values(), ...state.resourcePolicies.values()] };
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

function put<K, V>(map: ReadonlyMap<K, V>, key: K, value: V | undefined): Map<K, V> {
  const next = new Map(map);
  if (value === undefined) next.delete(key);
  else next.set(key, value);
  return next;
}

function withSecret(state: ReplayState, s: SecretState): Applied {
  return { state: { ...state, secrets: put(state.secrets, s.id, s) } };
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

function addVersion(
  s: SecretState,
  e: OpEntry,
  hash: string,
  value: { version: string; type: 'string' | 'binary'; v: string; k: string },
  labels: readonly string[],
): SecretState | string {
  if (s.versions.some((v) => v.id === value.version)) return `version ${value.version} of ${s.name} exists already`;
  const stages = stagesForNewVersion(s.stages, value.version, labels);
  const version: VersionState = { id: value.version, at: e.at, by: e.by, type: value.type, v: value.v, k: value.k, entry: hash };
  return { ...s, stages, versions: prune([...s.versions, version], stages) };
}

/** The existing, not-deleted secret a data op is about, or why there is none. */
function target(
  state: ReplayState,
  e: OpOf<'PutSecretValue'> | OpOf<'UpdateSecret'> | OpOf<'TagResource'> | OpOf<'UntagResource'> | OpOf<'UpdateSecretVersionStage'> | OpOf<'DeleteSecret'>,
): SecretState | string {
  const s = state.secrets.get(e.body.secret);
  if (s === undefined || !isLive(s, e.at)) return `secret ${e.body.name} does not exist`;
  if (s.deleted !== undefined) return `secret ${e.body.name} is scheduled for deletion`;
  return s;
}

/**
 * Applies one entry to `state`. The caller has authorised it; this checks only that it applies
 * (so a dropped entry's dependants drop in turn: the version or member they need is missing).
 */
export function applyEntry(state: ReplayState, hash: string, entry: Entry): Applied {
  if (entry.kind !== 'op') return { state };
  const e = entry;
  const then = (r: SecretState | string): Applied => (typeof r === 'string' ? { problem: r } : withSecret(state, r));
  switch (e.op) {
    case 'CreateVault': {
      if (state.vault !== '') return { problem: 'the vault exists already' };
      const c = e.body.creator;
      const creator: MemberState = { id: c.id, name: c.name, enc: c.enc, sign: c.sign, roles: ['admin'], added: e.at };
      return { state: { ...EMPTY_STATE, vault: hash, name: e.body.name, creator: c.id, members: new Map([[c.id, creator]]) } };
    }
    case 'AddMember': {
      const m = e.body.member;
      if (state.members.has(m.id)) return { problem: `member ${m.id} was a member already (removal is final)` };
      const member: MemberState = { id: m.id, name: m.name, enc: m.enc, sign: m.sign, roles: [...e.body.roles].sort(), added: e.at };
      return { state: { ...state, members: put(state.members, m.id, member) } };
    }
    case 'RemoveMember': {
      const m = state.members.get(e.body.member);
      if (!isCurrent(m)) return { problem: `${e.body.member} is not a current member` };
      if (m.id === state.creator) return { problem: 'the creator cannot be removed' };
      if (m.id === e.by) return { problem: 'a member cannot remove themselves' };
      if (m.roles.includes('admin') && adminsOf(state).length <= 1) return { problem: 'the last admin cannot be removed' };
      return { state: { ...state, members: put(state.members, m.id, { ...m, removed: e.at }) } };
    }
    case 'SetRole': {
      const m = state.members.get(e.body.member);
      if (!isCurrent(m)) return { problem: `${e.body.member} is not a current member` };
      const roles = [...e.body.roles].sort();
      if (m.roles.includes('admin') && !roles.includes('admin') && adminsOf(state).length <= 1) return { problem: 'the last admin must stay an admin' };
      return { state: { ...state, members: put(state.members, m.id, { ...m, roles }) } };
    }
    case 'PutPolicy': {
      const old = state.policies.get(e.body.policy);
      const p: PolicyState = { name: e.body.policy, doc: e.body.doc, attached: old?.attached ?? [] };
      return { state: { ...state, policies: put(state.policies, e.body.policy, p) } };
    }
    case 'DeletePolicy':
      if (!state.policies.has(e.body.policy)) return { problem: `policy ${JSON.stringify(e.body.policy)} does not exist` };
      return { state: { ...state, policies: put(state.policies, e.body.policy, undefined) } };
    case 'AttachPolicy':
    case 'DetachPolicy': {
      const p = state.policies.get(e.body.policy);
      if (p === undefined) return { problem: `policy ${JSON.stringify(e.body.policy)} does not exist` };
      if (!isCurrent(state.members.get(e.body.member))) return { problem: `${e.body.member} is not a current member` };
      const others = p.attached.filter((id) => id !== e.body.member);
      const attached = e.op === 'AttachPolicy' ? [...others, e.body.member].sort() : others;
      return { state: { ...state, policies: put(state.policies, e.body.policy, { ...p, attached }) } };
    }
    case 'PutResourcePolicy':
      return { state: { ...state, resourcePolicies: put(state.resourcePolicies, e.body.secret, { secret: e.body.secret, doc: e.body.doc, attached: [] }) } };
    case 'DeleteResourcePolicy':
      if (!state.resourcePolicies.has(e.body.secret)) return { problem: `secret ${e.body.name} has no resource policy` };
      return { state: { ...state, resourcePolicies: put(state.resourcePolicies, e.body.secret, undefined) } };
    case 'CreateSecret': {
      if (secretNamed(state, e.body.name, e.at) !== undefined) return { problem: `secret ${e.body.name} exists already` };
      const old = state.secrets.get(e.body.secret);
      if (old !== undefined && isLive(old, e.at)) return { problem: `secret id ${e.body.secret} is in use` };
      let s: SecretState = {
        id: e.body.secret,
        name: e.body.name,
        tags: e.body.tags ?? new Map(),
        stages: new Map(),
        versions: [],
        created: e.at,
        ...(e.body.description !== undefined ? { description: e.body.description } : {}),
      };
      if (e.body.value) {
        const r = addVersion(s, e, hash, e.body.value, []);
        if (typeof r === 'string') return { problem: r };
        s = r;
      }
      return withSecret(state, s);
    }
    case 'PutSecretValue': {
      const s = target(state, e);
      return then(typeof s === 'string' ? s : addVersion(s, e, hash, e.body.value, e.body.stages ?? []));
    }
    case 'UpdateSecret': {
      const s = target(state, e);
      if (typeof s === 'string') return { problem: s };
      const described: SecretState = e.body.description !== undefined ? { ...s, description: e.body.description } : s;
      return then(e.body.value ? addVersion(described, e, hash, e.body.value, []) : described);
    }
    case 'TagResource': {
      const s = target(state, e);
      if (typeof s === 'string') return { problem: s };
      const tags = new Map(s.tags);
      for (const [k, v] of e.body.tags) tags.set(k, v);
      if (tags.size > MAX_TAGS) return { problem: `secret ${s.name} would carry more than ${MAX_TAGS} tags` };
      return withSecret(state, { ...s, tags });
    }
    case 'UntagResource': {
      const s = target(state, e);
      if (typeof s === 'string') return { problem: s };
      const tags = new Map(s.tags);
      for (const k of e.body.keys) tags.delete(k);
      return withSecret(state, { ...s, tags });
    }
    case 'UpdateSecretVersionStage': {
      const s = target(state, e);
      if (typeof s === 'string') return { problem: s };
      const to = e.body.version;
      if (to !== undefined && !s.versions.some((v) => v.id === to)) return { problem: `secret ${s.name} has no version ${to}` };
      return withSecret(state, { ...s, stages: moveLabel(s.stages, e.body.stage, to) });
    }
    case 'DeleteSecret': {
      const s = target(state, e);
      if (typeof s === 'string') return { problem: s };
      return withSecret(state, { ...s, deleted: { at: e.at, purge: purgeTime(e.at, e.body.days), entry: hash } });
    }
    case 'ConfirmSecret':
    case 'RotateSecret':
    case 'CancelRotateSecret':
    case 'Reseal':
      // Their effects come with the hold, rotation settings and the readers check; until then they change nothing.
      return { problem: `${e.op} is not replayed by this version` };
    case 'RestoreSecret': {
      const s = state.secrets.get(e.body.secret);
      if (s?.deleted === undefined || !isLive(s, e.at)) return { problem: `secret ${e.body.name} is not scheduled for deletion` };
      const { deleted: _deleted, ...rest } = s;
      return withSecret(state, rest);
    }
  }
}

/** Undoes a delete that a concurrent change beat: the secret is as it was, not deleted. */
export function undoDelete(state: ReplayState, secretId: string, deleteEntry: string): ReplayState {
  const s = state.secrets.get(secretId);
  if (s?.deleted?.entry !== deleteEntry) return state;
  const { deleted: _deleted, ...rest } = s;
  return { ...state, secrets: put(state.secrets, secretId, rest) };
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
    if (v instanceof Map) return [...(v as Map<string, unknown>)].sort(([x], [y]) => byText(x, y));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([x], [y]) => byText(x, y)));
    return v;
  });
}
