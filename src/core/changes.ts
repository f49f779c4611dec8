/**
 * The ops that turn one vault state into another. A use case computes the state it wants (the
 * same code for both formats); a format-2 vault appends the ops this module finds, and every
 * reader then authorises each op against the state before it. So an op here is only a claim:
 * if the writer was not allowed it, replay refuses it on every machine, the writer's included.
 *
 * Ops come in the order a person would do them: members and policies, removals, then per secret
 * (by name) creation, restoration, metadata, values, labels, re-seals, and deletion last.
 */
import type { MemberRecord, PolicyRecord, SecretEntry, VaultState, VersionRecord } from './model.js';
import type { Action, KeysPayload, OpBodies, Payload, RotationSpec, SecretRef, ValuePayload, VersionRef } from './ops.js';
import type { RotationConfig } from './rotation.js';
import { CURRENT, PENDING, PREVIOUS } from './versions.js';

/** One op to append, with the payload lines it needs (written before it). */
export interface PlannedOp {
  readonly op: Action;
  readonly body: OpBodies[Action];
  readonly payloads: readonly Payload[];
}

/** h(line) of a payload, from the store's codec. */
export type PayloadHash = (payload: Payload) => string;

const DAY_MS = 86_400_000;

function same(a: unknown, b: unknown): boolean {
  return (
    JSON.stringify(a, (_k, v: unknown) => (v instanceof Map ? [...(v as Map<string, unknown>)].sort() : v)) ===
    JSON.stringify(b, (_k, v: unknown) => (v instanceof Map ? [...(v as Map<string, unknown>)].sort() : v))
  );
}

function plan<A extends Action>(op: A, body: OpBodies[A], payloads: readonly Payload[] = []): PlannedOp {
  return { op, body, payloads };
}

/** The payloads of a version and the reference an op carries. */
/**
 * The payloads of a version and the reference an op carries; `dated` (the op's time) records
 * the version's own date when it is earlier (a restored version).
 */
function versionPayloads(v: VersionRecord, hash: PayloadHash, dated?: string): { ref: VersionRef; payloads: Payload[] } {
  const value: ValuePayload = { kind: 'value', n: v.n, ct: v.ct };
  const keys: KeysPayload = { kind: 'keys', keys: v.keys };
  return { ref: { version: v.id, type: v.type, v: hash(value), k: hash(keys), ...earlier('created', v.created, dated) }, payloads: [value, keys] };
}

/** `{ [key]: date }` when `date` is before `at` (dates are never after their op), else nothing. */
function earlier<K extends string>(key: K, date: string | undefined, at: string | undefined): { [k in K]?: string } {
  return date !== undefined && at !== undefined && date < at ? ({ [key]: date } as { [k in K]: string }) : {};
}

function rotationSpec(r: RotationConfig): RotationSpec {
  const { since: _since, last: _last, ...spec } = r;
  return spec;
}

function memberOps(before: VaultState, after: VaultState): PlannedOp[] {
  const out: PlannedOp[] = [];
  const old = new Map(before.members.map((m) => [m.id, m]));
  const keys = (m: MemberRecord) => ({ id: m.id, name: m.name, enc: m.enc, sign: m.sign });
  for (const m of after.members) {
    const was = old.get(m.id);
    if (was === undefined) {
      out.push(plan('AddMember', { member: keys(m), roles: [...m.roles].sort() }));
      if (m.removed !== undefined) out.push(plan('RemoveMember', { member: m.id }));
      continue;
    }
    if (was.removed === undefined && m.removed === undefined && !same([...was.roles].sort(), [...m.roles].sort())) {
      out.push(plan('SetRole', { member: m.id, roles: [...m.roles].sort() }));
    }
  }
  return out;
}

function removals(before: VaultState, after: VaultState): PlannedOp[] {
  const old = new Map(before.members.map((m) => [m.id, m]));
  return after.members
    .filter((m) => m.removed !== undefined && old.get(m.id) !== undefined && old.get(m.id)?.removed === undefined)
    .map((m) => plan('RemoveMember', { member: m.id }));
}

/**
 * An admin's confirmation of what a removed member set (`member confirm`): each secret that
 * leaves a member's `held` list, before the re-seals that give its readers their keys.
 */
function confirmations(before: VaultState, after: VaultState, names: ReadonlyMap<string, string>): PlannedOp[] {
  const now = new Map(after.members.map((m) => [m.id, new Set(m.held ?? [])]));
  const ids = before.members.flatMap((m) => (m.held ?? []).filter((id) => now.get(m.id)?.has(id) === false));
  return [...new Set(ids)].sort().map((id) => plan('ConfirmSecret', { secret: id, name: names.get(id) as string }));
}

function policyOps(before: VaultState, after: VaultState, names: ReadonlyMap<string, string>): PlannedOp[] {
  const out: PlannedOp[] = [];
  const identity = (s: VaultState) => new Map(s.policies.filter((p) => p.name !== undefined).map((p) => [p.name as string, p]));
  const resource = (s: VaultState) => new Map(s.policies.filter((p) => p.secret !== undefined).map((p) => [p.secret as string, p]));
  const oldIdentity = identity(before);
  const newIdentity = identity(after);
  for (const [name, p] of newIdentity) {
    const was: PolicyRecord | undefined = oldIdentity.get(name);
    if (was === undefined || !same(was.doc, p.doc)) out.push(plan('PutPolicy', { policy: name, doc: p.doc }));
    const had = new Set(was?.attached ?? []);
    const has = new Set(p.attached);
    for (const id of [...has].filter((id) => !had.has(id)).sort()) out.push(plan('AttachPolicy', { policy: name, member: id }));
    for (const id of [...had].filter((id) => !has.has(id)).sort()) out.push(plan('DetachPolicy', { policy: name, member: id }));
  }
  for (const name of oldIdentity.keys()) if (!newIdentity.has(name)) out.push(plan('DeletePolicy', { policy: name }));
  const oldResource = resource(before);
  const newResource = resource(after);
  const ref = (id: string): SecretRef => ({ secret: id, name: names.get(id) ?? id });
  for (const [id, p] of newResource) {
    const was = oldResource.get(id);
    if (was === undefined || !same(was.doc, p.doc)) out.push(plan('PutResourcePolicy', { ...ref(id), doc: p.doc }));
  }
  for (const id of oldResource.keys()) if (!newResource.has(id)) out.push(plan('DeleteResourcePolicy', ref(id)));
  return out;
}

/** The ops that turn one secret (`was`, absent when new) into `now` (absent when purged at once). */
function secretOps(was: SecretEntry | undefined, now: SecretEntry | undefined, hash: PayloadHash, at: string): PlannedOp[] {
  const out: PlannedOp[] = [];
  const s = (now ?? was)?.secret;
  if (s === undefined) return out;
  const ref: SecretRef = { secret: s.id, name: s.name };
  if (now === undefined) {
    // Gone from the new state: a delete without recovery (a scheduled one stays until its purge).
    if (was !== undefined && (was.secret.purge === undefined || was.secret.purge > at)) out.push(plan('DeleteSecret', { ...ref, days: 0 }));
    return out;
  }
  const after = now.secret;
  const oldVersions = new Map((was?.versions ?? []).map((v) => [v.id, v]));
  const added = now.versions.filter((v) => !oldVersions.has(v.id));
  let stages = new Map(was?.secret.stages ?? []);
  let rest = added;
  // A secret restored from a backup keeps the backup's dates (only when it is new here).
  const dated = was === undefined && after.restored === true ? at : undefined;

  if (was === undefined) {
    const first = added.length > 0 && after.act === 'CreateSecret' ? added[0] : undefined;
    const payload = first && versionPayloads(first, hash, dated);
    out.push(
      plan(
        'CreateSecret',
        {
          ...ref,
          ...earlier('created', after.created, dated),
          ...(after.description !== undefined ? { description: after.description } : {}),
          ...(after.tags.size > 0 ? { tags: after.tags } : {}),
          ...(payload ? { value: payload.ref } : {}),
        },
        payload?.payloads ?? [],
      ),
    );
    if (first) {
      stages = new Map([[CURRENT, first.id]]);
      rest = added.slice(1);
    }
  } else {
    const before = was.secret;
    if (before.deleted !== undefined && after.deleted === undefined) out.push(plan('RestoreSecret', ref));
    if (after.description !== undefined && after.description !== before.description && !(after.act === 'UpdateSecret' && added.length > 0)) {
      out.push(plan('UpdateSecret', { ...ref, description: after.description }));
    }
    const set = new Map([...after.tags].filter(([k, v]) => before.tags.get(k) !== v));
    if (set.size > 0) out.push(plan('TagResource', { ...ref, tags: set }));
    const unset = [...before.tags.keys()].filter((k) => !after.tags.has(k)).sort();
    if (unset.length > 0) out.push(plan('UntagResource', { ...ref, keys: unset }));
  }

  const before = was?.secret;
  const rotationChanged =
    after.rotation !== undefined && (before?.rotation === undefined || !same(rotationSpec(before.rotation), rotationSpec(after.rotation)));
  const cancelled = before?.rotation?.enabled === true && after.rotation?.enabled === false && after.act === 'CancelRotateSecret';
  if (cancelled) {
    out.push(plan('CancelRotateSecret', ref));
    stages.delete(PENDING);
  } else if (rotationChanged && after.rotation) {
    const dates = { ...earlier('since', after.rotation.since, dated), ...earlier('last', after.rotation.last, dated) };
    out.push(plan('RotateSecret', { ...ref, rotation: rotationSpec(after.rotation), ...dates }));
  }

  for (const v of rest) {
    const payload = versionPayloads(v, hash, dated);
    const labels = [...after.stages].filter(([, id]) => id === v.id).map(([label]) => label);
    if (v.act === 'RotateSecret' && labels.includes(PENDING)) {
      out.push(plan('RotateSecret', { ...ref, value: payload.ref }, payload.payloads));
      stages.set(PENDING, v.id);
      continue;
    }
    if (v.act === 'UpdateSecret') {
      const description = after.description !== undefined && after.description !== before?.description ? { description: after.description } : {};
      out.push(plan('UpdateSecret', { ...ref, ...description, value: payload.ref }, payload.payloads));
      moveCurrent(stages, v.id);
      continue;
    }
    const pick = labels.length > 0 ? labels.sort() : [CURRENT];
    out.push(
      plan('PutSecretValue', { ...ref, value: payload.ref, ...(labels.length > 0 && !same(pick, [CURRENT]) ? { stages: pick } : {}) }, payload.payloads),
    );
    for (const label of pick) {
      if (label === CURRENT) moveCurrent(stages, v.id);
      else stages.set(label, v.id);
    }
  }

  // A finished rotation: CURRENT moved to the pending version, which loses PENDING.
  const pending = stages.get(PENDING);
  if (after.act === 'RotateSecret' && pending !== undefined && after.stages.get(CURRENT) === pending && !after.stages.has(PENDING)) {
    out.push(plan('RotateSecret', { ...ref, finish: pending }));
    moveCurrent(stages, pending);
    stages.delete(PENDING);
  }
  for (const [label, id] of [...after.stages].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (stages.get(label) === id) continue;
    out.push(plan('UpdateSecretVersionStage', { ...ref, stage: label, version: id }));
    const from = stages.get(label);
    stages.set(label, id);
    if (label === CURRENT && from !== undefined && from !== id) stages.set(PREVIOUS, from);
  }
  for (const label of [...stages.keys()].filter((l) => !after.stages.has(l)).sort()) {
    out.push(plan('UpdateSecretVersionStage', { ...ref, stage: label }));
    stages.delete(label);
  }

  const resealed = new Map<string, string>();
  const resealPayloads: Payload[] = [];
  for (const v of now.versions) {
    const old = oldVersions.get(v.id);
    if (old === undefined || same(old.keys, v.keys)) continue;
    const keys: KeysPayload = { kind: 'keys', keys: v.keys };
    resealed.set(v.id, hash(keys));
    resealPayloads.push(keys);
  }
  if (resealed.size > 0) out.push(plan('Reseal', { ...ref, keys: resealed }, resealPayloads));

  if (after.deleted !== undefined && before?.deleted === undefined && after.purge !== undefined) {
    const days = Math.round((Date.parse(after.purge) - Date.parse(after.deleted)) / DAY_MS);
    out.push(plan('DeleteSecret', { ...ref, days }));
  }
  return out;
}

/** Moves CURRENT as a new value does in replay: the version it leaves becomes PREVIOUS, and a pending rotation is abandoned. */
function moveCurrent(stages: Map<string, string>, to: string): void {
  const from = stages.get(CURRENT);
  stages.set(CURRENT, to);
  if (from !== undefined && from !== to) stages.set(PREVIOUS, from);
  const pending = stages.get(PENDING);
  if (pending !== undefined && pending !== to) stages.delete(PENDING);
}

/**
 * The ops from `before` to `after`, or none when nothing a format-2 vault records changed.
 * `at` is the time of the write (a secret whose purge time has passed needs no op to go).
 */
export function plannedOps(before: VaultState, after: VaultState, hash: PayloadHash, at: string): PlannedOp[] {
  const names = new Map([...before.secrets, ...after.secrets].map((e) => [e.secret.id, e.secret.name]));
  // Removals after the other governance changes (a policy may be detached first) and before
  // the secrets' ops: the re-seals that withdraw a removed member's keys seal to the readers
  // that remain once they are gone.
  const out: PlannedOp[] = [
    ...memberOps(before, after),
    ...policyOps(before, after, names),
    ...removals(before, after),
    ...confirmations(before, after, names),
  ];
  const old = new Map(before.secrets.map((e) => [e.secret.id, e]));
  const next = new Map(after.secrets.map((e) => [e.secret.id, e]));
  const ids = [...new Set([...old.keys(), ...next.keys()])].sort((x, y) => {
    const a = names.get(x) as string;
    const b = names.get(y) as string;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  for (const id of ids) out.push(...secretOps(old.get(id), next.get(id), hash, at));
  return out;
}
