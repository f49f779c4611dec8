/**
 * The semantic three-way merge of two copies of one vault against their merge base (docs/sync.md).
 * Records are merged by identity — members by id, policies by name or secret, secrets by id,
 * versions by id — never by text, so a merge never conflicts textually:
 *
 * - versions are a union (a data key map changed on both sides is merged per reader: a reader
 *   withdrawn on one side stays withdrawn; with no common ancestor only the readers of both
 *   copies keep a key); a version one side pruned stays pruned unless a merged label needs it;
 * - a secret's metadata is merged field by field (description, each tag, each staging label,
 *   deletion, rotation); a field changed differently on both sides takes the newer side's value,
 *   and a staging label moved on both sides goes to the newer version, the other becoming
 *   PREVIOUS when the label is CURRENT: every such case is reported. Labels always point at kept
 *   versions, and tags and labels stay within their limits (the older side's additions go first);
 * - a secret force-deleted on one side and changed in content (a value or its metadata; not a
 *   re-seal or a re-signature) on the other is kept, and reported; one scheduled for deletion on
 *   one side and changed on the other stays scheduled, with the change, and is reported;
 * - two secrets under one name keep the one new in these copies over one the base had (whoever
 *   created it had deleted the old one), then the one created first; the other is reported;
 * - members and policies are admin-signed, so they are never re-signed here: one side's record
 *   is kept whole (a removal always wins over a concurrent change, as does a policy deletion);
 * - a removal also wins over the removed member's concurrent writes: their changed secret and
 *   version records are not carried (no honest reader would accept them, and the merger must not
 *   vouch for them), and no version keeps a key for anyone who is not a current member.
 *
 * Records changed on both sides come out unsigned, for the merging identity to sign, when it may
 * sign them; otherwise one side's record is kept whole with its own signature and the merge says
 * what of the other side's change it could not carry. The head is rebuilt: each writer's counter
 * is the higher of the two. Every choice is symmetric: merge(ours, theirs) and merge(theirs, ours)
 * say the same (what the merger may re-sign aside). Pure: no I/O, no crypto.
 */
import { SecretsError } from './errors.js';
import type { HeadRecord, MemberRecord, PolicyRecord, SecretEntry, SecretRecord, Signed, VaultState, VersionRecord } from './model.js';
import { MAX_LABELS, MAX_TAGS } from './names.js';
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
function pick3<V>(
  base: V | undefined,
  ours: V | undefined,
  theirs: V | undefined,
  eq: (x: V | undefined, y: V | undefined) => boolean,
): { value: V | undefined; conflict: boolean } {
  if (eq(ours, theirs)) return { value: ours, conflict: false };
  if (eq(ours, base)) return { value: theirs, conflict: false };
  if (eq(theirs, base)) return { value: ours, conflict: false };
  return { value: undefined, conflict: true };
}

/** Code-unit order, for sorting ids and keys the same way on every machine. */
function byText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A stable text of a value (map entries and object keys sorted), for comparing content. */
function canon(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Map) return { map: [...(v as Map<string, unknown>)].sort(([x], [y]) => byText(x, y)) };
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).sort(([x], [y]) => byText(x, y)));
    return v;
  });
}

/** What a record says, whoever signed it. */
function content(r: Signed): string {
  const { by: _by, ctr: _ctr, sig: _sig, ...rest } = r;
  return canon(rest);
}

const eqStr = (x: string | undefined, y: string | undefined): boolean => x === y;
const eqJson = (x: unknown, y: unknown): boolean => canon(x) === canon(y);

/** Whether two string maps hold the same entries. */
function sameMap(x: ReadonlyMap<string, string>, y: ReadonlyMap<string, string>): boolean {
  return x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
}

/** Merges a string map key by key; `onConflict` decides keys changed differently on both sides. */
function mergeMap(
  base: ReadonlyMap<string, string> | undefined,
  ours: ReadonlyMap<string, string>,
  theirs: ReadonlyMap<string, string>,
  onConflict: (key: string, o: string | undefined, t: string | undefined) => string | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  const keys = new Set([...ours.keys(), ...theirs.keys(), ...(base?.keys() ?? [])]);
  for (const k of [...keys].sort(byText)) {
    const r = pick3(base?.get(k), ours.get(k), theirs.get(k), eqStr);
    const v = r.conflict ? onConflict(k, ours.get(k), theirs.get(k)) : r.value;
    if (v !== undefined) out.set(k, v);
  }
  return out;
}

/** Trims a merged map to `max` entries: first keys the preferred side lacks, then any but `keep`, last key first. */
function capMap(map: Map<string, string>, preferred: ReadonlyMap<string, string>, keep: ReadonlySet<string>, max: number): string[] {
  const dropped: string[] = [];
  for (const pass of [(k: string) => !preferred.has(k) && !keep.has(k), (k: string) => !keep.has(k)]) {
    for (const k of [...map.keys()].sort(byText).reverse()) {
      if (map.size <= max) return dropped;
      if (!pass(k)) continue;
      map.delete(k);
      dropped.push(k);
    }
  }
  return dropped;
}

function mergeMembers(base: readonly MemberRecord[], ours: readonly MemberRecord[], theirs: readonly MemberRecord[], conflicts: string[]): MemberRecord[] {
  const b = new Map(base.map((m) => [m.id, m]));
  const o = new Map(ours.map((m) => [m.id, m]));
  const t = new Map(theirs.map((m) => [m.id, m]));
  const out: MemberRecord[] = [];
  for (const id of [...new Set([...o.keys(), ...t.keys()])].sort(byText)) {
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
      om.removed !== undefined && tm.removed === undefined
        ? om
        : tm.removed !== undefined && om.removed === undefined
          ? tm
          : newer(om, om.removed ?? om.added, tm, tm.removed ?? tm.added);
    conflicts.push(`member ${JSON.stringify(kept.name)} was changed in both copies; kept ${kept.removed !== undefined ? 'the removal' : 'the newer record'}`);
    out.push(kept);
  }
  // Two identities added under one name in the two copies are both kept (each was added by an admin).
  const names = new Map<string, string>();
  for (const m of out) {
    if (m.removed !== undefined) continue;
    const other = names.get(m.name);
    if (other === undefined) names.set(m.name, m.id);
    else
      conflicts.push(
        `members ${other} and ${m.id} were both added as ${JSON.stringify(m.name)} in the two copies; both are members: remove the one that is not meant`,
      );
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
  for (const key of [...new Set([...o.keys(), ...t.keys(), ...b.keys()])].sort(byText)) {
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

/**
 * A side's entry without the writes of members the merge does not keep as current: a removal wins
 * over the removed member's concurrent writes, which no honest reader would accept and the merger
 * must not re-sign. A changed secret record falls back to the base's (else the other copy's);
 * a changed version to the base's, else it is dropped, unless this copy's labels point at it
 * (`suspect`: kept only while a merged label still does). Undefined when nothing of the secret can
 * stay (they created it).
 */
function withoutWritesOfRemoved(
  entry: SecretEntry,
  base: SecretEntry | undefined,
  other: SecretEntry | undefined,
  current: ReadonlySet<string>,
  kept: ReadonlySet<string>,
  conflicts: string[],
): { entry: SecretEntry; suspect: Set<string> } | undefined {
  const name = entry.secret.name;
  const stale = (r: Signed, b: Signed | undefined): boolean => !current.has(r.by) && !isKeptSig(kept, r) && !same(r, b);
  let secret = entry.secret;
  if (stale(secret, base?.secret)) {
    const fallback = base?.secret ?? (other !== undefined && current.has(other.secret.by) ? other.secret : undefined);
    if (fallback === undefined) {
      conflicts.push(`secret ${name} as written by ${secret.by}, who is removed from the vault in the other copy, is not kept`);
      return undefined;
    }
    conflicts.push(`the change to ${name} by ${secret.by}, who is removed from the vault in the other copy, is not kept`);
    secret = fallback;
  }
  const labelled = new Set(secret.stages.values());
  const bv = new Map((base?.versions ?? []).map((v) => [v.id, v]));
  const suspect = new Set<string>();
  let changed = secret !== entry.secret;
  const versions: VersionRecord[] = [];
  for (const v of entry.versions) {
    const old = bv.get(v.id);
    if (!stale(v, old)) {
      versions.push(v);
      continue;
    }
    changed = true;
    if (old) {
      versions.push(old);
      conflicts.push(`the change to version ${v.id} of ${name} by ${v.by}, who is removed from the vault in the other copy, is not kept`);
    } else if (labelled.has(v.id)) {
      versions.push(v);
      suspect.add(v.id);
    } else {
      conflicts.push(`version ${v.id} of ${name} as written by ${v.by}, who is removed from the vault in the other copy, is not kept`);
    }
  }
  return { entry: changed ? { secret, versions } : entry, suspect };
}

/** Whether a side changed what a secret says or holds since the base (re-signing, re-sealing and pruning are not such changes). */
function changedContent(entry: SecretEntry, base: SecretEntry): boolean {
  if (content(entry.secret) !== content(base.secret)) return true;
  const bv = new Map(base.versions.map((v) => [v.id, v]));
  return entry.versions.some((v) => {
    const b = bv.get(v.id);
    return !b || b.ct !== v.ct || b.n !== v.n || b.type !== v.type;
  });
}

/** The readers' keys of one version re-sealed on both sides: merged per reader, or only the common readers when there is no base. */
function mergeKeys(base: VersionRecord | undefined, ov: VersionRecord, tv: VersionRecord): Map<string, string> {
  // Both sealed the same data key to one reader: either seal opens it; take one the same way everywhere.
  const either = (o: string, t: string): string => (o < t ? o : t);
  if (base === undefined) {
    const out = new Map<string, string>();
    for (const k of [...ov.keys.keys()].sort(byText)) {
      const o = ov.keys.get(k) as string;
      const t = tv.keys.get(k);
      if (t !== undefined) out.set(k, either(o, t));
    }
    return out;
  }
  // Withdrawn on one side and re-sealed on the other: withdrawn.
  return mergeMap(base.keys, ov.keys, tv.keys, (_k, o, t) => (o !== undefined && t !== undefined ? either(o, t) : undefined));
}

/** The merged versions of a secret, and the versions one side pruned and the other left alone (`spare`: kept only if a label needs one). */
function mergeVersions(
  base: SecretEntry | undefined,
  ours: SecretEntry,
  theirs: SecretEntry,
  name: string,
  mayResign: (v: VersionRecord) => boolean,
  conflicts: string[],
): { versions: VersionRecord[]; spare: VersionRecord[] } {
  const b = new Map((base?.versions ?? []).map((v) => [v.id, v]));
  const o = new Map(ours.versions.map((v) => [v.id, v]));
  const t = new Map(theirs.versions.map((v) => [v.id, v]));
  const out: VersionRecord[] = [];
  const spare: VersionRecord[] = [];
  for (const id of [...new Set([...o.keys(), ...t.keys()])].sort(byText)) {
    const ov = o.get(id);
    const tv = t.get(id);
    const r = pick3(b.get(id), ov, tv, same);
    if (!r.conflict) {
      // A version pruned on one side and untouched on the other stays pruned (unless a label needs it).
      if (r.value) out.push(r.value);
      else spare.push((ov ?? tv) as VersionRecord);
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
    const keys = mergeKeys(bv, ov, tv);
    const readers = new Set([...ov.keys.keys(), ...tv.keys.keys()]);
    const left = [...readers].filter((k) => !keys.has(k)).sort(byText);
    if (bv === undefined && left.length > 0) {
      conflicts.push(
        `version ${id} of ${name} has different readers in the two copies and no common ancestor; only the readers of both keep a key (${left.join(', ')} do not; an admin's \`secrets reseal\` restores who may read)`,
      );
    }
    if (sameMap(keys, ov.keys) || sameMap(keys, tv.keys)) {
      // One side already holds exactly the merged keys: keep it as signed.
      out.push(sameMap(keys, ov.keys) && sameMap(keys, tv.keys) ? newer(ov, '', tv, '') : sameMap(keys, ov.keys) ? ov : tv);
      continue;
    }
    const draft: VersionRecord = { ...ov, keys };
    if (mayResign(draft)) {
      const { sig: _s, ...rest } = draft;
      out.push(rest);
      continue;
    }
    // Cannot re-sign: keep the side giving a key to the fewest readers the merge withdrew, then to the fewest readers.
    const extra = (v: VersionRecord): string[] => [...v.keys.keys()].filter((k) => !keys.has(k)).sort(byText);
    const eo = extra(ov).length;
    const et = extra(tv).length;
    const kept = eo !== et ? (eo < et ? ov : tv) : ov.keys.size !== tv.keys.size ? (ov.keys.size < tv.keys.size ? ov : tv) : newer(ov, '', tv, '');
    const still = extra(kept);
    conflicts.push(
      `the readers of version ${id} of ${name} changed in both copies; kept one side's${still.length > 0 ? `, which still gives a key to ${still.join(', ')}` : ''} (an admin's \`secrets reseal\` settles them)`,
    );
    out.push(kept);
  }
  return { versions: out, spare };
}

/** The creation time of a version in the pool, or '' when it is not there. */
function createdOf(pool: ReadonlyMap<string, VersionRecord>, versionId: string | undefined): string {
  return (versionId !== undefined ? pool.get(versionId)?.created : undefined) ?? '';
}

/** The newer of two versions by creation, then by id (undefined loses). */
function newerVersion(pool: ReadonlyMap<string, VersionRecord>, a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  const ac = createdOf(pool, a);
  const bc = createdOf(pool, b);
  return ac > bc || (ac === bc && a > b) ? a : b;
}

function mergeSecretRecord(
  base: SecretRecord | undefined,
  o: SecretRecord,
  t: SecretRecord,
  pool: ReadonlyMap<string, VersionRecord>,
  mayResign: (s: SecretRecord) => boolean,
  conflicts: string[],
): SecretRecord {
  const r = pick3(base, o, t, same);
  const complete = (s: SecretRecord): boolean => [...s.stages.values()].every((id) => pool.has(id));
  if (!r.conflict && r.value && complete(r.value)) return r.value;
  const name = o.name;
  const newerSide = newer(o, o.changed, t, t.changed);
  const field = <V>(what: string, bv: V | undefined, ov: V | undefined, tv: V | undefined): V | undefined => {
    const x = pick3(bv, ov, tv, eqJson);
    if (!x.conflict) return x.value;
    conflicts.push(`${what} of ${name} was changed in both copies; kept the newer`);
    return newerSide === o ? ov : tv;
  };
  const description = field('the description', base?.description, o.description, t.description);
  const tags = mergeMap(base?.tags, o.tags, t.tags, (k) => {
    conflicts.push(`tag ${JSON.stringify(k)} of ${name} was changed in both copies; kept the newer`);
    return newerSide.tags.get(k);
  });
  for (const k of capMap(tags, newerSide.tags, new Set(), MAX_TAGS)) {
    conflicts.push(`tag ${JSON.stringify(k)} of ${name} is dropped: with both copies' tags the secret would have more than ${MAX_TAGS}`);
  }
  const moved = new Map<string, string | undefined>();
  const stages = mergeMap(base?.stages, o.stages, t.stages, (label, ov, tv) => {
    // Moved to two different versions: the newer version wins, as a later write would have.
    const win = newerVersion(pool, pool.has(ov ?? '') ? ov : undefined, pool.has(tv ?? '') ? tv : undefined) ?? newerVersion(pool, ov, tv);
    moved.set(label, win === ov ? tv : ov);
    return win;
  });
  // The CURRENT that lost stays reachable as PREVIOUS, as if the two writes had happened in turn.
  const lost = moved.get(CURRENT);
  if (lost !== undefined && pool.has(lost) && stages.get(CURRENT) !== lost) stages.set(PREVIOUS, lost);
  // A label must point at a version the merge keeps: else the newest version either copy had it on.
  for (const [label, id] of [...stages]) {
    if (pool.has(id)) continue;
    const alt = [o.stages.get(label), t.stages.get(label), base?.stages.get(label)]
      .filter((v): v is string => v !== undefined && pool.has(v))
      .reduce<string | undefined>((a, v) => newerVersion(pool, a, v), undefined);
    if (alt !== undefined) stages.set(label, alt);
    else stages.delete(label);
    conflicts.push(
      `label ${label} of ${name} was on version ${id}, which the merge does not keep; ${alt !== undefined ? `it is on version ${alt}` : 'it is removed'}`,
    );
  }
  for (const label of capMap(stages, newerSide.stages, new Set([CURRENT, PREVIOUS]), MAX_LABELS)) {
    conflicts.push(`label ${label} of ${name} is dropped: with both copies' labels the secret would have more than ${MAX_LABELS}`);
  }
  for (const [label, lose] of moved) {
    const now = stages.get(label);
    const also = label === CURRENT && lose !== undefined && lose !== now && stages.get(PREVIOUS) === lose ? ` (${lose} is PREVIOUS)` : '';
    conflicts.push(
      `label ${label} of ${name} was moved in both copies; it is on version ${now ?? '(none)'}${lose !== undefined && lose !== now ? `, not ${lose}` : ''}${also}`,
    );
  }
  const deleted = field('the deletion', base?.deleted, o.deleted, t.deleted);
  const purge = deleted === undefined ? undefined : field('the purge date', base?.purge, o.purge, t.purge);
  if (deleted !== undefined && (o.deleted === undefined) !== (t.deleted === undefined) && base?.deleted === undefined) {
    conflicts.push(
      `secret ${name} was scheduled for deletion in one copy and changed in the other; it stays scheduled for deletion, with the change (restore it if it is still needed)`,
    );
  }
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
    ...(newerSide.act !== undefined ? { act: newerSide.act } : {}),
    ...(rotation !== undefined ? { rotation } : {}),
    by: newerSide.by,
    ctr: newerSide.ctr,
  };
  if (mayResign(draft)) return draft;
  // Kept whole: when the copies disagree on the deletion, the one the merge decided for, else the newer.
  const kept = (o.deleted === undefined) !== (t.deleted === undefined) ? ((o.deleted !== undefined) === (deleted !== undefined) ? o : t) : newerSide;
  conflicts.push(`the metadata of ${name} changed in both copies and this identity may not re-sign it together; kept one copy's whole`);
  return kept;
}

/**
 * An entry the current members can rely on: records a former member signed (kept from the base,
 * where the copy that removed them no longer has the entry) are re-signed, and versions drop the
 * keys of anyone who is not a current member, when the merger may; else the merge says so.
 */
/** Whether a removal kept this record as valid history under its removed writer's name. */
function isKeptSig(kept: ReadonlySet<string>, r: Signed): boolean {
  return r.sig !== undefined && kept.has(r.sig);
}

function forCurrentMembers(
  entry: SecretEntry,
  current: ReadonlySet<string>,
  kept: ReadonlySet<string>,
  mayResign: MayResign,
  conflicts: string[],
): SecretEntry {
  const name = entry.secret.name;
  let changed = false;
  const strip = <R extends SecretRecord | VersionRecord>(r: R): R => {
    const { sig: _s, ...rest } = r;
    return rest as R;
  };
  let secret = entry.secret;
  if (!current.has(secret.by) && secret.sig !== undefined && !isKeptSig(kept, secret)) {
    if (mayResign(strip(secret), entry)) {
      secret = strip(secret);
      changed = true;
    } else {
      conflicts.push(
        `the record of ${name} is signed by ${secret.by}, no longer a member, and this identity may not re-sign it: readers will refuse it (\`secrets verify\` lists it)`,
      );
    }
  }
  const versions = entry.versions.map((v) => {
    const gone = [...v.keys.keys()].filter((id) => !current.has(id)).sort(byText);
    const former = !current.has(v.by) && v.sig !== undefined && !isKeptSig(kept, v);
    if (gone.length === 0 && !former) return v;
    const draft = strip({ ...v, keys: new Map([...v.keys].filter(([id]) => current.has(id))) });
    if (mayResign(draft, entry)) {
      changed = true;
      return draft;
    }
    if (gone.length > 0)
      conflicts.push(`version ${v.id} of ${name} still gives a key to ${gone.join(', ')}, no longer a member; an admin's \`secrets reseal\` withdraws it`);
    if (former)
      conflicts.push(
        `version ${v.id} of ${name} is signed by ${v.by}, no longer a member, and this identity may not re-sign it: readers will refuse it (\`secrets verify\` lists it)`,
      );
    return v;
  });
  return changed ? { secret, versions } : entry;
}

function mergeSecrets(
  base: readonly SecretEntry[],
  ours: readonly SecretEntry[],
  theirs: readonly SecretEntry[],
  current: ReadonlySet<string>,
  kept: ReadonlySet<string>,
  mayResign: MayResign,
  conflicts: string[],
): SecretEntry[] {
  const b = new Map(base.map((e) => [e.secret.id, e]));
  const rawO = new Map(ours.map((e) => [e.secret.id, e]));
  const rawT = new Map(theirs.map((e) => [e.secret.id, e]));
  const suspects = new Map<string, Set<string>>();
  const clean = (side: readonly SecretEntry[], other: ReadonlyMap<string, SecretEntry>): Map<string, SecretEntry> => {
    const m = new Map<string, SecretEntry>();
    for (const e of side) {
      const c = withoutWritesOfRemoved(e, b.get(e.secret.id), other.get(e.secret.id), current, kept, conflicts);
      if (!c) continue;
      m.set(c.entry.secret.id, c.entry);
      for (const vid of c.suspect) suspects.set(e.secret.id, (suspects.get(e.secret.id) ?? new Set()).add(vid));
    }
    return m;
  };
  const o = clean(ours, rawT);
  const t = clean(theirs, rawO);
  const untouched = (x: SecretEntry, y: SecretEntry | undefined): boolean =>
    y !== undefined && same(x.secret, y.secret) && x.versions.length === y.versions.length && x.versions.every((v, i) => same(v, y.versions[i]));
  const out: SecretEntry[] = [];
  const revived = new Map<string, string>();
  for (const id of [...new Set([...o.keys(), ...t.keys(), ...b.keys()])].sort(byText)) {
    const be = b.get(id);
    const oe = o.get(id);
    const te = t.get(id);
    if (!oe && !te) continue;
    if (!oe || !te) {
      const only = (oe ?? te) as SecretEntry;
      if (!be) {
        out.push(only); // created on one side
      } else if (changedContent(only, be)) {
        revived.set(id, `secret ${only.secret.name} was deleted in one copy and changed in the other; it is kept: delete it again if that was meant`);
        out.push(only);
      }
      // else: deleted on one side, untouched (or only re-sealed) on the other: deleted.
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
    const provisional: SecretEntry = { secret: newer(oe.secret, oe.secret.changed, te.secret, te.secret.changed), versions: [] };
    const { versions, spare } = mergeVersions(be, oe, te, name, (v) => mayResign(v, provisional), conflicts);
    const pool = new Map([...spare, ...versions].map((v) => [v.id, v]));
    const secret = mergeSecretRecord(be?.secret, oe.secret, te.secret, pool, (s) => mayResign(s, { secret: s, versions }), conflicts);
    // Versions a kept label points at stay, even if one side had pruned them; a removed member's only while one does.
    const labelled = new Set(secret.stages.values());
    const kept = new Map(versions.filter((v) => labelled.has(v.id) || !suspects.get(id)?.has(v.id)).map((v) => [v.id, v]));
    for (const v of versions) {
      if (!kept.has(v.id)) conflicts.push(`version ${v.id} of ${name} as written by ${v.by}, who is removed from the vault in the other copy, is not kept`);
    }
    for (const vid of labelled) {
      const v = pool.get(vid);
      if (v && !kept.has(vid)) kept.set(vid, v);
    }
    out.push({ secret, versions: pruneVersions(secret, [...kept.values()]) });
  }
  // Two secrets under one name: keep one created in this merge's copies over one the base had (whoever
  // created a new one had deleted the old), then the one created first; report the other.
  const rank = (e: SecretEntry): string => `${b.has(e.secret.id) ? '1' : '0'}\u0000${e.secret.created}\u0000${e.secret.id}`;
  const byName = new Map<string, SecretEntry>();
  for (const e of [...out].sort((x, y) => byText(rank(x), rank(y)))) {
    const clash = byName.get(e.secret.name);
    if (!clash) {
      byName.set(e.secret.name, e);
      const note = revived.get(e.secret.id);
      if (note !== undefined) conflicts.push(note);
    } else if (b.has(e.secret.id)) {
      conflicts.push(
        `secret ${e.secret.name} was deleted and created again in one copy and changed in the other; kept the new secret (${clash.secret.id}); the changed old one (${e.secret.id}) is dropped`,
      );
    } else {
      conflicts.push(
        `secret ${e.secret.name} was created in both copies; kept the one created first (${clash.secret.id}); the other (${e.secret.id}) is dropped`,
      );
    }
  }
  const candidates = (id: string): VersionRecord[] => [...(rawO.get(id)?.versions ?? []), ...(rawT.get(id)?.versions ?? []), ...(b.get(id)?.versions ?? [])];
  return [...byName.values()]
    .map((e) => {
      for (const vid of suspects.get(e.secret.id) ?? []) {
        const v = e.versions.find((x) => x.id === vid);
        if (v && !current.has(v.by))
          conflicts.push(
            `version ${vid} of ${e.secret.name} was written by ${v.by}, who is removed from the vault in the other copy; it is kept because a label points at it`,
          );
      }
      return forCurrentMembers(withLabelledVersions(e, candidates(e.secret.id), conflicts), current, kept, mayResign, conflicts);
    })
    .sort((x, y) => byText(x.secret.name, y.secret.name));
}

/** Makes sure every label points at a version the entry holds, taking it from either copy or the base when one went missing. */
function withLabelledVersions(entry: SecretEntry, candidates: readonly VersionRecord[], conflicts: string[]): SecretEntry {
  const have = new Set(entry.versions.map((v) => v.id));
  const missing = [...new Set(entry.secret.stages.values())].filter((id) => !have.has(id)).sort(byText);
  if (missing.length === 0) return entry;
  const added: VersionRecord[] = [];
  for (const id of missing) {
    const v = candidates.filter((x) => x.id === id).sort((x, y) => byText(x.sig ?? '', y.sig ?? ''))[0];
    if (v) added.push(v);
    conflicts.push(`version ${id} of ${entry.secret.name} is kept (${v ? 'from one copy' : 'but is missing'}) because a label of the kept record points at it`);
  }
  return { secret: entry.secret, versions: pruneVersions(entry.secret, [...entry.versions, ...added]) };
}

function mergeHeads(ours: HeadRecord, theirs: HeadRecord): HeadRecord {
  const writers = [...new Set([...ours.ctrs.keys(), ...theirs.ctrs.keys()])].sort(byText);
  const ctrs = new Map(writers.map((w) => [w, Math.max(ours.ctrs.get(w) ?? 0, theirs.ctrs.get(w) ?? 0)]));
  // Each writer's audit anchor comes from the copy holding that writer's later write (at a tie, the same one everywhere).
  const audit = new Map<string, string>();
  for (const w of [...new Set([...(ours.audit?.keys() ?? []), ...(theirs.audit?.keys() ?? [])])].sort(byText)) {
    const oc = ours.ctrs.get(w) ?? 0;
    const tc = theirs.ctrs.get(w) ?? 0;
    const oa = ours.audit?.get(w);
    const ta = theirs.audit?.get(w);
    const a = oc !== tc ? (tc > oc ? (ta ?? oa) : (oa ?? ta)) : oa === undefined || ta === undefined ? (oa ?? ta) : oa > ta ? oa : ta;
    if (a !== undefined) audit.set(w, a);
  }
  const { sig: _sig, audit: _audit, ...rest } = ours;
  return { ...rest, ctrs, ...(audit.size > 0 ? { audit } : {}) };
}

/**
 * Merges `ours` and `theirs` (two verified copies of one vault) against `base`, their last
 * common version (undefined when they share none). The head comes back unsigned.
 */
export function mergeVaults(base: VaultState | undefined, ours: VaultState, theirs: VaultState, mayResign: MayResign): MergeResult {
  if (ours.vault.id !== theirs.vault.id || !same(ours.vault, theirs.vault)) {
    throw new SecretsError(
      'INTEGRITY',
      `these are two different vaults (${ours.vault.id} and ${theirs.vault.id}), not two copies of one`,
      'check the remote: it should hold the vault you cloned',
    );
  }
  const b = base !== undefined && base.vault.id === ours.vault.id ? base : undefined;
  const conflicts: string[] = [];
  const members = mergeMembers(b?.members ?? [], ours.members, theirs.members, conflicts);
  const current = new Set(members.filter((m) => m.removed === undefined).map((m) => m.id));
  const policies = mergePolicies(b?.policies ?? [], ours.policies, theirs.policies, conflicts);
  // A removal's kept history stays under its writer's name; the merge does not re-sign it.
  const kept = new Set(members.flatMap((m) => m.kept ?? []));
  const secrets = mergeSecrets(b?.secrets ?? [], ours.secrets, theirs.secrets, current, kept, mayResign, conflicts);
  return { state: { vault: ours.vault, members, policies, head: mergeHeads(ours.head, theirs.head), secrets }, conflicts };
}
