/**
 * The semantic three-way merge of two copies of one vault against their merge base (DESIGN.md
 * section 10). Records are merged by identity — members by id, policies by name or secret,
 * secrets by id, versions by id — never by text, so a merge never conflicts textually:
 *
 * - versions are a union (a data key map changed on both sides is merged per reader);
 * - a secret's metadata is merged field by field (description, each tag, each staging label,
 *   deletion, rotation); a field changed differently on both sides takes the newer side's value,
 *   and a staging label moved on both sides goes to the newer version, the other becoming
 *   PREVIOUS when the label is CURRENT: every such case is reported;
 * - a secret deleted on one side and changed on the other is kept, and reported;
 * - members and policies are admin-signed, so they are never re-signed here: one side's record
 *   is kept whole (a removal always wins over a concurrent change, as does a policy deletion).
 *
 * Records changed on both sides come out unsigned, for the merging identity to sign, when it may
 * sign them; otherwise the newer side's record is kept whole with its own signature and the
 * merge says what of the other side's change it could not carry. The head is rebuilt: each
 * writer's counter is the higher of the two. Pure: no I/O, no crypto.
 */
import { SecretsError } from './errors.js';
import type { HeadRecord, MemberRecord, PolicyRecord, SecretEntry, SecretRecord, VaultState, VersionRecord } from './model.js';
import { CURRENT, PREVIOUS, pruneVersions } from './versions.js';

/** Whether the merging identity may re-sign this record (else the newer side is kept whole). */
export type MayResign = (record: SecretRecord | VersionRecord, entry: SecretEntry) => boolean;

/** The merge and what a person should know about it (names and ids, never values). */
export interface MergeResult {
  readonly state: VaultState;
  readonly conflicts: readonly string[];
}

/** Records are compared by their signed identity: the same writer, counter and signature is the same record. */
function same(a: { sig?: string; by: string; ctr: number } | undefined, b: { sig?: string; by: string; ctr: number } | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.sig === b.sig && a.by === b.by && a.ctr === b.ctr;
}

/** Later of two ISO times; ties broken by signature text so every merger picks the same side. */
function newer<T extends { sig?: string }>(a: T, at: string, b: T, bt: string): T {
  if (at !== bt) return at > bt ? a : b;
  return (a.sig ?? '') >= (b.sig ?? '') ? a : b;
}

/** The three-way choice for one field: unchanged sides defer to the changed one. */
function pick3<V>(base: V | undefined, ours: V | undefined, theirs: V | undefined, eq: (x: V | undefined, y: V | undefined) => boolean): { value: V | undefined; conflict: boolean } {
  if (eq(ours, theirs)) return { value: ours, conflict: false };
  if (eq(ours, base)) return { value: theirs, conflict: false };
  if (eq(theirs, base)) return { value: ours, conflict: false };
  return { value: undefined, conflict: true };
}

const eqStr = (x: string | undefined, y: string | undefined): boolean => x === y;
const eqJson = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);

/** Merges a string map key by key; `onConflict` decides keys changed differently on both sides. */
function mergeMap(
  base: ReadonlyMap<string, string> | undefined,
  ours: ReadonlyMap<string, string>,
  theirs: ReadonlyMap<string, string>,
  onConflict: (key: string, o: string | undefined, t: string | undefined) => string | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  const keys = new Set([...ours.keys(), ...theirs.keys(), ...(base?.keys() ?? [])]);
  for (const k of [...keys].sort()) {
    const r = pick3(base?.get(k), ours.get(k), theirs.get(k), eqStr);
    const v = r.conflict ? onConflict(k, ours.get(k), theirs.get(k)) : r.value;
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

function mergeMembers(base: readonly MemberRecord[], ours: readonly MemberRecord[], theirs: readonly MemberRecord[], conflicts: string[]): MemberRecord[] {
  const b = new Map(base.map((m) => [m.id, m]));
  const o = new Map(ours.map((m) => [m.id, m]));
  const t = new Map(theirs.map((m) => [m.id, m]));
  const out: MemberRecord[] = [];
  for (const id of [...new Set([...o.keys(), ...t.keys()])].sort()) {
    const r = pick3(b.get(id), o.get(id), t.get(id), same);
    if (!r.conflict) {
      if (r.value) out.push(r.value);
      continue;
    }
    const om = o.get(id);
    const tm = t.get(id);
    if (!om || !tm) {
      // Members are never deleted, only marked removed: keep whichever record exists.
      out.push((om ?? tm) as MemberRecord);
      continue;
    }
    // A removal must win: it is how access is withdrawn.
    const kept =
      om.removed !== undefined && tm.removed === undefined ? om : tm.removed !== undefined && om.removed === undefined ? tm : newer(om, om.removed ?? om.added, tm, tm.removed ?? tm.added);
    conflicts.push(`member ${JSON.stringify(kept.name)} was changed in both copies; kept ${kept.removed !== undefined ? 'the removal' : 'the newer record'}`);
    out.push(kept);
  }
  return out;
}

function policyKey(p: PolicyRecord): string {
  return p.name !== undefined ? `name:${p.name}` : `secret:${p.secret ?? ''}`;
}

function mergePolicies(base: readonly PolicyRecord[], ours: readonly PolicyRecord[], theirs: readonly PolicyRecord[], conflicts: string[]): PolicyRecord[] {
  const b = new Map(base.map((p) => [policyKey(p), p]));
  const o = new Map(ours.map((p) => [policyKey(p), p]));
  const t = new Map(theirs.map((p) => [policyKey(p), p]));
  const out: PolicyRecord[] = [];
  for (const key of [...new Set([...o.keys(), ...t.keys(), ...b.keys()])].sort()) {
    const r = pick3(b.get(key), o.get(key), t.get(key), same);
    if (!r.conflict) {
      if (r.value) out.push(r.value);
      continue;
    }
    const op = o.get(key);
    const tp = t.get(key);
    const what = key.startsWith('name:') ? `policy ${JSON.stringify(key.slice(5))}` : `the resource policy of secret ${key.slice(7)}`;
    if (!op || !tp) {
      // Deleted on one side, changed on the other: the deletion wins (it can only narrow access).
      conflicts.push(`${what} was deleted in one copy and changed in the other; it stays deleted`);
      continue;
    }
    const kept = newer(op, op.changed, tp, tp.changed);
    conflicts.push(`${what} was changed in both copies; kept the newer one`);
    out.push(kept);
  }
  return out;
}

function versionKey(v: VersionRecord): string {
  return v.id;
}

function createdOf(entry: SecretEntry, versionId: string | undefined): string {
  return entry.versions.find((v) => v.id === versionId)?.created ?? '';
}

function mergeVersions(
  base: SecretEntry | undefined,
  ours: SecretEntry,
  theirs: SecretEntry,
  name: string,
  mayResign: (v: VersionRecord) => boolean,
  conflicts: string[],
): VersionRecord[] {
  const b = new Map((base?.versions ?? []).map((v) => [versionKey(v), v]));
  const o = new Map(ours.versions.map((v) => [versionKey(v), v]));
  const t = new Map(theirs.versions.map((v) => [versionKey(v), v]));
  const out: VersionRecord[] = [];
  for (const id of new Set([...o.keys(), ...t.keys()])) {
    const ov = o.get(id);
    const tv = t.get(id);
    const r = pick3(b.get(id), ov, tv, same);
    if (!r.conflict) {
      // A version pruned on one side and untouched on the other stays pruned.
      if (r.value) out.push(r.value);
      continue;
    }
    if (!ov || !tv) {
      out.push((ov ?? tv) as VersionRecord);
      continue;
    }
    if (ov.ct !== tv.ct || ov.n !== tv.n || ov.type !== tv.type) {
      const kept = newer(ov, ov.created, tv, tv.created);
      conflicts.push(`version ${id} of ${name} holds different values in the two copies; kept the newer`);
      out.push(kept);
      continue;
    }
    // The same value re-sealed differently on each side: merge the readers' keys.
    const bv = b.get(id);
    const keys = mergeMap(bv?.keys, ov.keys, tv.keys, () => undefined);
    const draft: VersionRecord = { ...ov, keys };
    if (mayResign(draft)) {
      const { sig: _s, ...rest } = draft;
      out.push(rest);
    } else {
      // Fewer readers is the safe side when the keys cannot be re-signed together.
      out.push(ov.keys.size <= tv.keys.size ? ov : tv);
      conflicts.push(`the readers of version ${id} of ${name} changed in both copies; kept one side's (an admin's \`secrets reseal\` settles them)`);
    }
  }
  return out;
}

function mergeSecretRecord(
  base: SecretRecord | undefined,
  ours: SecretEntry,
  theirs: SecretEntry,
  merged: readonly VersionRecord[],
  mayResign: (s: SecretRecord) => boolean,
  conflicts: string[],
): SecretRecord {
  const o = ours.secret;
  const t = theirs.secret;
  const r = pick3(base, o, t, same);
  if (!r.conflict && r.value) return r.value;
  const name = o.name;
  const newerSide = newer(o, o.changed, t, t.changed);
  const fromNewer = <K extends keyof SecretRecord>(key: K): SecretRecord[K] => newerSide[key];
  const field = <V>(what: string, bv: V | undefined, ov: V | undefined, tv: V | undefined): V | undefined => {
    const x = pick3(bv, ov, tv, eqJson);
    if (!x.conflict) return x.value;
    conflicts.push(`${what} of ${name} was changed in both copies; kept the newer`);
    return (newerSide === o ? ov : tv);
  };
  const description = field('the description', base?.description, o.description, t.description);
  const tags = mergeMap(base?.tags, o.tags, t.tags, (k, ov, tv) => {
    conflicts.push(`tag ${JSON.stringify(k)} of ${name} was changed in both copies; kept the newer`);
    return newerSide === o ? ov : tv;
  });
  const all: SecretEntry = { secret: o, versions: merged };
  const losers: string[] = [];
  const stages = mergeMap(base?.stages, o.stages, t.stages, (label, ov, tv) => {
    // Moved to two different versions: the newer version wins, as a later write would have.
    const oc = createdOf(all, ov);
    const tc = createdOf(all, tv);
    const win = ov === undefined ? tv : tv === undefined ? ov : oc > tc || (oc === tc && ov > tv) ? ov : tv;
    const lose = win === ov ? tv : ov;
    if (label === CURRENT && lose !== undefined) losers.push(lose);
    conflicts.push(`label ${label} of ${name} was moved in both copies; it is on version ${win ?? '(none)'}${lose !== undefined ? `, not ${lose}` : ''}`);
    return win;
  });
  // The CURRENT that lost stays reachable as PREVIOUS, as if the two writes had happened in turn.
  const lost = losers[0];
  if (lost !== undefined && stages.get(CURRENT) !== lost) stages.set(PREVIOUS, lost);
  for (const [label, id] of stages) if (!merged.some((v) => v.id === id)) stages.delete(label);
  const deleted = field('the deletion', base?.deleted, o.deleted, t.deleted);
  const purge = deleted === undefined ? undefined : field('the purge date', base?.purge, o.purge, t.purge);
  const rotation = field('the rotation', base?.rotation, o.rotation, t.rotation);
  const draft: SecretRecord = {
    kind: 'secret',
    id: o.id,
    name: o.name,
    ...(description !== undefined ? { description } : {}),
    tags,
    stages,
    created: o.created < t.created ? o.created : t.created,
    changed: o.changed > t.changed ? o.changed : t.changed,
    ...(deleted !== undefined ? { deleted } : {}),
    ...(purge !== undefined ? { purge } : {}),
    ...(fromNewer('act') !== undefined ? { act: fromNewer('act') as string } : {}),
    ...(rotation !== undefined ? { rotation } : {}),
    by: newerSide.by,
    ctr: newerSide.ctr,
  };
  if (mayResign(draft)) return draft;
  conflicts.push(`the metadata of ${name} changed in both copies and this identity may not re-sign it together; kept the newer copy's`);
  return newerSide;
}

function mergeSecrets(
  base: readonly SecretEntry[],
  ours: readonly SecretEntry[],
  theirs: readonly SecretEntry[],
  mayResign: MayResign,
  conflicts: string[],
): SecretEntry[] {
  const b = new Map(base.map((e) => [e.secret.id, e]));
  const o = new Map(ours.map((e) => [e.secret.id, e]));
  const t = new Map(theirs.map((e) => [e.secret.id, e]));
  const untouched = (x: SecretEntry, y: SecretEntry | undefined): boolean =>
    y !== undefined && same(x.secret, y.secret) && x.versions.length === y.versions.length && x.versions.every((v, i) => same(v, y.versions[i]));
  const out: SecretEntry[] = [];
  for (const id of new Set([...o.keys(), ...t.keys(), ...b.keys()])) {
    const be = b.get(id);
    const oe = o.get(id);
    const te = t.get(id);
    if (!oe && !te) continue;
    if (!oe || !te) {
      const only = (oe ?? te) as SecretEntry;
      if (!be) {
        out.push(only); // created on one side
      } else if (!untouched(only, be)) {
        conflicts.push(`secret ${only.secret.name} was deleted in one copy and changed in the other; it is kept: delete it again if that was meant`);
        out.push(only);
      }
      // else: deleted on one side, untouched on the other: deleted.
      continue;
    }
    if (untouched(oe, te)) {
      out.push(oe);
      continue;
    }
    if (be && untouched(oe, be)) {
      out.push(te);
      continue;
    }
    if (be && untouched(te, be)) {
      out.push(oe);
      continue;
    }
    const name = oe.secret.name;
    const versions = mergeVersions(be, oe, te, name, (v) => mayResign(v, oe), conflicts);
    const secret = mergeSecretRecord(be?.secret, oe, te, versions, (s) => mayResign(s, { secret: s, versions }), conflicts);
    out.push({ secret, versions: pruneVersions(secret, versions) });
  }
  // Two secrets created under one name in the two copies: keep the older, report the other.
  const byName = new Map<string, SecretEntry>();
  for (const e of out.sort((x, y) => (x.secret.created < y.secret.created ? -1 : x.secret.created > y.secret.created ? 1 : x.secret.id < y.secret.id ? -1 : 1))) {
    const clash = byName.get(e.secret.name);
    if (clash) {
      conflicts.push(`secret ${e.secret.name} was created in both copies; kept the one created first (${clash.secret.id}); the other (${e.secret.id}) is dropped`);
      continue;
    }
    byName.set(e.secret.name, e);
  }
  return [...byName.values()].sort((x, y) => (x.secret.name < y.secret.name ? -1 : x.secret.name > y.secret.name ? 1 : 0));
}

function mergeHeads(ours: HeadRecord, theirs: HeadRecord): HeadRecord {
  const ctrs = new Map(ours.ctrs);
  for (const [w, c] of theirs.ctrs) ctrs.set(w, Math.max(c, ctrs.get(w) ?? 0));
  // Each writer's audit anchor comes from the copy holding that writer's later write.
  const audit = new Map<string, string>();
  for (const w of new Set([...(ours.audit?.keys() ?? []), ...(theirs.audit?.keys() ?? [])])) {
    const fromTheirs = (theirs.ctrs.get(w) ?? 0) > (ours.ctrs.get(w) ?? 0);
    const a = (fromTheirs ? theirs.audit?.get(w) : ours.audit?.get(w)) ?? ours.audit?.get(w) ?? theirs.audit?.get(w);
    if (a !== undefined) audit.set(w, a);
  }
  const { sig: _sig, ...rest } = ours;
  return { ...rest, ctrs, ...(audit.size > 0 ? { audit } : {}) };
}

/**
 * Merges `ours` and `theirs` (two verified copies of one vault) against `base`, their last
 * common version (undefined when they share none). The head comes back unsigned.
 */
export function mergeVaults(base: VaultState | undefined, ours: VaultState, theirs: VaultState, mayResign: MayResign): MergeResult {
  if (ours.vault.id !== theirs.vault.id || !same(ours.vault, theirs.vault)) {
    throw new SecretsError('INTEGRITY', `these are two different vaults (${ours.vault.id} and ${theirs.vault.id}), not two copies of one`, 'check the remote: it should hold the vault you cloned');
  }
  const b = base !== undefined && base.vault.id === ours.vault.id ? base : undefined;
  const conflicts: string[] = [];
  const members = mergeMembers(b?.members ?? [], ours.members, theirs.members, conflicts);
  const policies = mergePolicies(b?.policies ?? [], ours.policies, theirs.policies, conflicts);
  const secrets = mergeSecrets(b?.secrets ?? [], ours.secrets, theirs.secrets, mayResign, conflicts);
  return { state: { vault: ours.vault, members, policies, head: mergeHeads(ours.head, theirs.head), secrets }, conflicts };
}
