// Unit tests of the record-level three-way merge (core/merge.ts) over hand-built vault states:
// no files, no crypto, no git. Signatures are fake strings, one per record, so the merge can
// tell records apart exactly as it does with real ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type MayResign, mergeVaults } from '../src/core/merge.js';
import type { HeadRecord, MemberRecord, PolicyRecord, SecretEntry, SecretRecord, Signed, VaultRecord, VaultState, VersionRecord } from '../src/core/model.js';
import { MAX_LABELS, MAX_TAGS, MAX_VERSIONS } from '../src/core/names.js';
import { moveLabel, pruneVersions, stagesForNewVersion } from '../src/core/versions.js';

// ---------------------------------------------------------------------------------------------
// Building states by hand

let sigs = 0;
/** A fresh fake signature: every record gets its own. */
const sig = (what: string): string => `sig:${what}:${++sigs}`;
/** Minute `n` of the test day, as the vault stores times. */
const T = (n: number): string => new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString();

const ALICE = 'alice-id';
const BOB = 'bob-id';
const CAROL = 'carol-id';
const DAVE = 'dave-id';
const PEOPLE = [ALICE, BOB, CAROL, DAVE] as const;

const anyone: MayResign = () => true;
const nobody: MayResign = () => false;

const VAULT: VaultRecord = { kind: 'vault', id: 'vault-1', format: 1, name: 'team', created: T(0), by: ALICE, ctr: 1, sig: 'sig:vault' };

function member(id: string, extra: Partial<MemberRecord> = {}): MemberRecord {
  const name = id.replace(/-id$/, '');
  return {
    kind: 'member',
    id,
    name,
    enc: `enc-${name}`,
    sign: `sign-${name}`,
    roles: id === ALICE || id === BOB ? ['admin'] : ['member'],
    added: T(0),
    by: ALICE,
    ctr: 1,
    sig: sig(`member-${name}`),
    ...extra,
  };
}

function policy(name: string, changed: string, extra: Partial<PolicyRecord> = {}): PolicyRecord {
  return {
    kind: 'policy',
    name,
    doc: { Version: '2012-10-17', Statement: [] },
    attached: [CAROL],
    changed,
    by: ALICE,
    ctr: 1,
    sig: sig(`policy-${name}`),
    ...extra,
  };
}

function secret(id: string, name: string, stages: Record<string, string>, extra: Partial<SecretRecord> = {}): SecretRecord {
  return {
    kind: 'secret',
    id,
    name,
    tags: new Map(),
    stages: new Map(Object.entries(stages)),
    created: T(0),
    changed: T(0),
    act: 'CreateSecret',
    by: ALICE,
    ctr: 1,
    sig: sig(`secret-${name}`),
    ...extra,
  };
}

function version(secretId: string, id: string, created: string, readers: readonly string[] = PEOPLE, extra: Partial<VersionRecord> = {}): VersionRecord {
  return {
    kind: 'version',
    secret: secretId,
    id,
    created,
    type: 'string',
    n: `n-${id}`,
    ct: `ct-${id}`,
    keys: new Map(readers.map((r) => [r, `dk-${id}-${r}`])),
    act: 'PutSecretValue',
    by: ALICE,
    ctr: 1,
    sig: sig(`version-${id}`),
    ...extra,
  };
}

function head(ctrs: Record<string, number>, audit?: Record<string, string>): HeadRecord {
  return {
    kind: 'head',
    ctrs: new Map(Object.entries(ctrs)),
    digest: 'digest',
    at: T(0),
    ...(audit ? { audit: new Map(Object.entries(audit)) } : {}),
    by: ALICE,
    ctr: 1,
    sig: sig('head'),
  };
}

function state(parts: {
  members?: readonly MemberRecord[];
  policies?: readonly PolicyRecord[];
  secrets?: readonly SecretEntry[];
  head?: HeadRecord;
}): VaultState {
  return {
    vault: VAULT,
    members: parts.members ?? PEOPLE.map((id) => member(id)),
    policies: parts.policies ?? [],
    head: parts.head ?? head({ [ALICE]: 1 }),
    secrets: [...(parts.secrets ?? [])].sort((x, y) => (x.secret.name < y.secret.name ? -1 : x.secret.name > y.secret.name ? 1 : 0)),
  };
}

/** The same record as changed and signed again by `by` (a fresh signature). */
function edit<R extends Signed>(r: R, changes: Partial<R>, by = ALICE, ctr = 2): R {
  return { ...r, ...changes, by, ctr, sig: sig('edit') };
}

/** A state with one secret's entry replaced (or added, or removed with `undefined`). */
function withEntry(s: VaultState, id: string, entry: SecretEntry | undefined): VaultState {
  const others = s.secrets.filter((e) => e.secret.id !== id);
  return state({ members: [...s.members], policies: [...s.policies], head: s.head, secrets: entry ? [...others, entry] : others });
}

const entryOf = (s: VaultState, name: string): SecretEntry => {
  const e = s.secrets.find((x) => x.secret.name === name);
  assert.ok(e, `secret ${name} is in the merge`);
  return e;
};
const stagesOf = (s: VaultState, name: string): Record<string, string> => Object.fromEntries(entryOf(s, name).secret.stages);
const versionIds = (s: VaultState, name: string): string[] =>
  entryOf(s, name)
    .versions.map((v) => v.id)
    .sort();
const keysOf = (s: VaultState, name: string, versionId: string): Record<string, string> =>
  Object.fromEntries([...(entryOf(s, name).versions.find((v) => v.id === versionId)?.keys ?? new Map<string, string>())].sort());

// ---------------------------------------------------------------------------------------------
// Semantic comparison: what a reader of the vault would see, whoever signed it

function plain(value: unknown): unknown {
  if (value instanceof Map) return [...(value as Map<string, unknown>)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, plain(v)]);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) if (k !== 'by' && k !== 'ctr' && k !== 'sig') out[k] = plain((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** Secrets, versions, labels, tags, deletions, members, policies and head counters; no signatures. */
function semantic(s: VaultState): unknown {
  const byKey = <T>(xs: readonly T[], key: (x: T) => string): T[] => [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    vault: plain(s.vault),
    members: plain(byKey(s.members, (m) => m.id)),
    policies: plain(byKey(s.policies, (p) => `${p.name ?? ''}/${p.secret ?? ''}`)),
    head: { ctrs: plain(s.head.ctrs), audit: plain(s.head.audit ?? new Map()) },
    secrets: byKey(s.secrets, (e) => e.secret.name).map((e) => ({ secret: plain(e.secret), versions: plain(byKey(e.versions, (v) => v.id)) })),
  };
}

/** Merges both ways round and checks they agree; returns one result and both conflict lists. */
function mergeBoth(base: VaultState | undefined, a: VaultState, b: VaultState, may: MayResign = anyone): { state: VaultState; conflicts: readonly string[] } {
  const ab = mergeVaults(base, a, b, may);
  const ba = mergeVaults(base, b, a, may);
  assert.deepEqual(semantic(ab.state), semantic(ba.state), 'merge(ours, theirs) and merge(theirs, ours) agree');
  assert.deepEqual([...ab.conflicts].sort(), [...ba.conflicts].sort(), 'both ways report the same conflicts');
  return ab;
}

/** Every label on a kept version, unique names, limits kept: what the vault file's parser demands. */
function assertWellFormed(s: VaultState): void {
  const names = new Set<string>();
  for (const e of s.secrets) {
    assert.ok(!names.has(e.secret.name), `one secret per name (${e.secret.name})`);
    names.add(e.secret.name);
    const ids = new Set(e.versions.map((v) => v.id));
    assert.equal(ids.size, e.versions.length, `no duplicate versions in ${e.secret.name}`);
    for (const [label, id] of e.secret.stages) assert.ok(ids.has(id), `label ${label} of ${e.secret.name} points at a kept version (${id})`);
    for (const v of e.versions) assert.equal(v.secret, e.secret.id);
    assert.ok(e.secret.tags.size <= MAX_TAGS, 'tag limit');
    assert.ok(e.secret.stages.size <= MAX_LABELS, 'label limit');
    const labelled = new Set(e.secret.stages.values());
    assert.ok(e.versions.filter((v) => !labelled.has(v.id)).length <= MAX_VERSIONS, 'pruned to the version limit');
  }
}

const hasConflict = (conflicts: readonly string[], re: RegExp): boolean => conflicts.some((c) => re.test(c));

// ---------------------------------------------------------------------------------------------
// A base most tests start from: secrets `db` (v1 CURRENT, v0 PREVIOUS) and `api` (a1)

function baseState(): VaultState {
  const db = secret('s-db', 'db', { CURRENT: 'v1', PREVIOUS: 'v0' }, { tags: new Map([['team', 'core']]), description: 'the database' });
  const api = secret('s-api', 'api', { CURRENT: 'a1' });
  return state({
    policies: [policy('readers', T(0))],
    head: head({ [ALICE]: 1, [BOB]: 1 }),
    secrets: [
      { secret: db, versions: [version('s-db', 'v0', T(0)), version('s-db', 'v1', T(1))] },
      { secret: api, versions: [version('s-api', 'a1', T(0))] },
    ],
  });
}

/** `put`: a new version taking CURRENT (the old CURRENT becomes PREVIOUS), signed by `by`. */
function put(s: VaultState, name: string, versionId: string, at: string, by = BOB, ctr = 2): VaultState {
  const e = entryOf(s, name);
  const v = version(
    e.secret.id,
    versionId,
    at,
    PEOPLE.filter((id) => s.members.some((m) => m.id === id && m.removed === undefined)),
    { by, ctr },
  );
  const rec = edit(e.secret, { stages: stagesForNewVersion(e.secret.stages, versionId, []), changed: at, act: 'PutSecretValue' }, by, ctr);
  return withEntry(s, e.secret.id, { secret: rec, versions: pruneVersions(rec, [...e.versions, v]) });
}

/** A change to one secret's metadata record, signed by `by`. */
function meta(s: VaultState, name: string, changes: Partial<SecretRecord>, by = BOB, ctr = 2): VaultState {
  const e = entryOf(s, name);
  return withEntry(s, e.secret.id, { secret: edit(e.secret, changes, by, ctr), versions: e.versions });
}

/** `member remove`: marked removed by Alice, their keys withdrawn and what they signed re-signed by her. */
function removeMember(s: VaultState, id: string, when: string, ctr = 2): VaultState {
  const resign = <R extends Signed>(r: R): R => (r.by === id ? edit(r, {}, ALICE, ctr) : r);
  return state({
    members: s.members.map((m) => (m.id === id ? edit(m, { removed: when, exposed: s.secrets.map((e) => e.secret.id).sort() }, ALICE, ctr) : resign(m))),
    policies: s.policies.map((p) => (p.attached.includes(id) ? edit(p, { attached: p.attached.filter((x) => x !== id) }, ALICE, ctr) : resign(p))),
    head: s.head,
    secrets: s.secrets.map((e) => ({
      secret: resign(e.secret),
      versions: e.versions.map((v) => (v.keys.has(id) ? edit(v, { keys: new Map([...v.keys].filter(([k]) => k !== id)) }, ALICE, ctr) : resign(v))),
    })),
  });
}

/** One version re-sealed: its key map replaced, signed by `by`. */
function reseal(s: VaultState, name: string, versionId: string, keys: Record<string, string>, by = ALICE, ctr = 2): VaultState {
  const e = entryOf(s, name);
  return withEntry(s, e.secret.id, {
    secret: e.secret,
    versions: e.versions.map((v) => (v.id === versionId ? edit(v, { keys: new Map(Object.entries(keys)) }, by, ctr) : v)),
  });
}

// ---------------------------------------------------------------------------------------------

describe('three-way merge of vault copies', () => {
  test('identical copies merge to themselves, with nothing reported', () => {
    const base = baseState();
    const ours = put(base, 'db', 'v2', T(5));
    const r = mergeVaults(base, ours, ours, anyone);
    assert.deepEqual(semantic(r.state), semantic(ours));
    assert.deepEqual(r.conflicts, []);
    assert.equal(entryOf(r.state, 'db').secret, entryOf(ours, 'db').secret, 'records are kept as signed');
  });

  test('one side unchanged: the merge is the other side, signatures and all', () => {
    const base = baseState();
    let theirs = put(base, 'db', 'v2', T(5));
    theirs = meta(theirs, 'api', { tags: new Map([['env', 'prod']]), changed: T(6), act: 'TagResource' }, CAROL, 2);
    theirs = withEntry(theirs, 's-new', {
      secret: secret('s-new', 'new', { CURRENT: 'n1' }, { created: T(7), changed: T(7) }),
      versions: [version('s-new', 'n1', T(7))],
    });
    theirs = removeMember(theirs, DAVE, T(8), 3);
    theirs = state({
      ...theirs,
      policies: [edit(theirs.policies[0] as PolicyRecord, { changed: T(9), attached: [] })],
      head: head({ [ALICE]: 3, [BOB]: 2, [CAROL]: 2 }),
    });
    for (const [o, t] of [
      [base, theirs],
      [theirs, base],
    ] as const) {
      const r = mergeVaults(base, o, t, anyone);
      assert.deepEqual(semantic(r.state), semantic(theirs));
      assert.deepEqual(r.conflicts, []);
      for (const e of r.state.secrets) {
        assert.ok(e.secret.sig !== undefined, `${e.secret.name} keeps its signature`);
        for (const v of e.versions) assert.ok(v.sig !== undefined);
      }
    }
  });

  test('disjoint changes on both sides are all kept (a union), nothing reported', () => {
    const base = baseState();
    let ours = put(base, 'db', 'v2', T(5));
    ours = state({ ...ours, policies: [...ours.policies, policy('writers', T(5))], secrets: [...ours.secrets] });
    let theirs = meta(base, 'api', { tags: new Map([['env', 'prod']]), changed: T(6), act: 'TagResource' }, CAROL);
    theirs = withEntry(theirs, 's-new', { secret: secret('s-new', 'new', { CURRENT: 'n1' }, { created: T(7) }), versions: [version('s-new', 'n1', T(7))] });
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v2', PREVIOUS: 'v1' });
    assert.deepEqual(versionIds(r.state, 'db'), ['v0', 'v1', 'v2']);
    assert.deepEqual(Object.fromEntries(entryOf(r.state, 'api').secret.tags), { env: 'prod' });
    assert.deepEqual(versionIds(r.state, 'new'), ['n1']);
    assert.deepEqual(r.state.policies.map((p) => p.name).sort(), ['readers', 'writers']);
    assertWellFormed(r.state);
  });

  test('different fields of one secret changed on both sides are merged field by field, unsigned for the merger', () => {
    const base = baseState();
    const ours = meta(base, 'db', {
      tags: new Map([
        ['team', 'core'],
        ['tier', '1'],
      ]),
      changed: T(5),
      act: 'TagResource',
    });
    const theirs = put(meta(base, 'db', { description: 'primary database', changed: T(6), act: 'UpdateSecret' }, CAROL), 'db', 'v2', T(7), CAROL, 3);
    const r = mergeBoth(base, ours, theirs);
    const db = entryOf(r.state, 'db').secret;
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual(Object.fromEntries(db.tags), { team: 'core', tier: '1' });
    assert.equal(db.description, 'primary database');
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v2', PREVIOUS: 'v1' });
    assert.equal(db.sig, undefined, 'the merged record is left for the merging identity to sign');
    assert.equal(db.changed, T(7));
  });

  test('CURRENT moved on both sides: the newer version wins, the losing CURRENT becomes PREVIOUS, and it is reported', () => {
    const base = baseState();
    const ours = put(base, 'db', 'v2', T(5), BOB);
    const theirs = put(base, 'db', 'v3', T(6), CAROL);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v3', PREVIOUS: 'v2' });
    assert.deepEqual(versionIds(r.state, 'db'), ['v0', 'v1', 'v2', 'v3'], 'both new versions are kept');
    assert.ok(hasConflict(r.conflicts, /^label CURRENT of db was moved in both copies; it is on version v3, not v2/), r.conflicts.join('\n'));
    assert.equal(entryOf(r.state, 'db').secret.sig, undefined);
    assertWellFormed(r.state);
  });

  test('CURRENT moved at the same instant on both sides: the same version wins whoever merges', () => {
    const base = baseState();
    const r = mergeBoth(base, put(base, 'db', 'v2', T(5), BOB), put(base, 'db', 'v3', T(5), CAROL));
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v3', PREVIOUS: 'v2' });
  });

  test('a custom label moved on both sides goes to the newer version; no PREVIOUS shuffle for it', () => {
    const b = meta(
      baseState(),
      'db',
      {
        stages: new Map([
          ['CURRENT', 'v1'],
          ['PREVIOUS', 'v0'],
          ['blue', 'v1'],
        ]),
      },
      ALICE,
      1,
    );
    const ours = meta(b, 'db', { stages: moveLabel(entryOf(b, 'db').secret.stages, 'blue', 'v0'), changed: T(5) });
    const theirs0 = put(b, 'db', 'v2', T(6), CAROL, 2);
    const theirs = meta(theirs0, 'db', { stages: moveLabel(entryOf(theirs0, 'db').secret.stages, 'blue', 'v2'), changed: T(7) }, CAROL, 3);
    const r = mergeBoth(b, ours, theirs);
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v2', PREVIOUS: 'v1', blue: 'v2' });
    assert.ok(hasConflict(r.conflicts, /label blue of db was moved in both copies; it is on version v2, not v0/));
  });

  test('a tag changed on both sides takes the newer side, and it is reported', () => {
    const base = baseState();
    const ours = meta(base, 'db', { tags: new Map([['team', 'platform']]), changed: T(5), act: 'TagResource' });
    const theirs = meta(base, 'db', { tags: new Map([['team', 'data']]), changed: T(6), act: 'TagResource' }, CAROL);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(Object.fromEntries(entryOf(r.state, 'db').secret.tags), { team: 'data' });
    assert.ok(hasConflict(r.conflicts, /^tag "team" of db was changed in both copies; kept the newer/));
    // A removal on the newer side wins the same way.
    const removed = meta(base, 'db', { tags: new Map(), changed: T(7), act: 'UntagResource' }, CAROL);
    assert.deepEqual(Object.fromEntries(entryOf(mergeBoth(base, ours, removed).state, 'db').secret.tags), {});
  });

  test('force-delete on one side against a concurrent put on the other: the secret is kept, with the put, and reported', () => {
    const base = baseState();
    const ours = withEntry(base, 's-db', undefined);
    const theirs = put(base, 'db', 'v2', T(5), CAROL);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v2', PREVIOUS: 'v1' });
    assert.deepEqual(versionIds(r.state, 'db'), ['v0', 'v1', 'v2']);
    assert.ok(hasConflict(r.conflicts, /^secret db was deleted in one copy and changed in the other; it is kept/));
  });

  test('a scheduled deletion against a concurrent put: it stays scheduled for deletion, with the new version, and it is reported', () => {
    const base = baseState();
    const ours = meta(base, 'db', { deleted: T(5), purge: '2026-02-01T00:00:00.000Z', changed: T(5), act: 'DeleteSecret' }, ALICE);
    const theirs = put(base, 'db', 'v2', T(6), CAROL);
    const r = mergeBoth(base, ours, theirs);
    const db = entryOf(r.state, 'db').secret;
    assert.equal(db.deleted, T(5));
    assert.equal(db.purge, '2026-02-01T00:00:00.000Z');
    assert.deepEqual(stagesOf(r.state, 'db'), { CURRENT: 'v2', PREVIOUS: 'v1' });
    assert.ok(hasConflict(r.conflicts, /^secret db was scheduled for deletion in one copy and changed in the other/), r.conflicts.join('\n'));
  });

  test('a scheduled deletion is not undone by a merger who may not re-sign the merged record', () => {
    const base = baseState();
    const ours = meta(base, 'db', { deleted: T(5), purge: '2026-02-01T00:00:00.000Z', changed: T(5), act: 'DeleteSecret' }, ALICE);
    const theirs = meta(base, 'db', { tags: new Map([['team', 'data']]), changed: T(6), act: 'TagResource' }, CAROL);
    const r = mergeBoth(base, ours, theirs, nobody);
    assert.equal(entryOf(r.state, 'db').secret.deleted, T(5), 'the deleted copy is the one kept whole');
    assert.ok(entryOf(r.state, 'db').secret.sig !== undefined);
    assert.ok(hasConflict(r.conflicts, /may not re-sign it together/));
  });

  test('force-delete on one side with the other untouched: deleted, nothing reported', () => {
    const base = baseState();
    const r = mergeBoth(base, withEntry(base, 's-db', undefined), base);
    assert.deepEqual(
      r.state.secrets.map((e) => e.secret.name),
      ['api'],
    );
    assert.deepEqual(r.conflicts, []);
  });

  test('force-delete on one side while the other only re-sealed or re-signed it: still deleted', () => {
    // Dave wrote db; removed on the other side, his keys are withdrawn and his record re-signed, its content unchanged.
    const base = meta(baseState(), 'db', {}, DAVE, 1);
    const theirs = removeMember(base, DAVE, T(5));
    assert.notEqual(entryOf(theirs, 'db').secret.sig, entryOf(base, 'db').secret.sig);
    const ours = withEntry(base, 's-db', undefined);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(
      r.state.secrets.map((e) => e.secret.name),
      ['api'],
    );
    assert.ok(!hasConflict(r.conflicts, /was deleted in one copy/));
  });

  test('a member removed on one side and changed on the other: the removal wins', () => {
    const base = baseState();
    const carol = base.members.find((m) => m.id === CAROL) as MemberRecord;
    const ours = state({
      ...base,
      members: base.members.map((m) => (m.id === CAROL ? edit(m, { removed: T(5), exposed: ['s-db'] }) : m)),
      secrets: [...base.secrets],
    });
    const theirs = state({
      ...base,
      members: base.members.map((m) => (m.id === CAROL ? edit(m, { roles: ['admin'], exposed: ['s-api'] }, BOB, 2) : m)),
      secrets: [...base.secrets],
    });
    const r = mergeBoth(base, ours, theirs);
    const merged = r.state.members.find((m) => m.id === CAROL) as MemberRecord;
    assert.equal(merged.removed, T(5));
    assert.deepEqual(merged.roles, carol.roles);
    assert.ok(merged.sig !== undefined, 'member records are kept whole, as an admin signed them');
    assert.ok(hasConflict(r.conflicts, /^member "carol" was changed in both copies; kept the removal/));
  });

  test("a removed member's concurrent writes on the other side are not carried, nor re-signed by the merger", () => {
    // Dave wrote `db` in the base; removing him re-signs that record with an admin's key.
    const b0 = baseState();
    const base = meta(b0, 'db', { changed: T(1) }, DAVE, 1);
    const ours = removeMember(base, DAVE, T(5));
    // Meanwhile Dave, still a member in his copy, points rotation at his own program, adds a value and a secret.
    let theirs = meta(base, 'db', { rotation: { handler: 'command:/tmp/evil', enabled: true, since: T(6) }, changed: T(6), act: 'RotateSecret' }, DAVE, 2);
    theirs = put(theirs, 'api', 'a2', T(7), DAVE, 3);
    theirs = withEntry(theirs, 's-dave', {
      secret: secret('s-dave', 'dave-secret', { CURRENT: 'd1' }, { by: DAVE, ctr: 4 }),
      versions: [version('s-dave', 'd1', T(8), PEOPLE, { by: DAVE, ctr: 4 })],
    });
    const r = mergeBoth(base, ours, theirs);
    assert.equal(entryOf(r.state, 'db').secret.rotation, undefined, "Dave's rotation handler is not carried");
    assert.deepEqual(stagesOf(r.state, 'api'), { CURRENT: 'a1' });
    assert.deepEqual(versionIds(r.state, 'api'), ['a1']);
    assert.ok(!r.state.secrets.some((e) => e.secret.name === 'dave-secret'));
    for (const e of r.state.secrets) {
      assert.notEqual(e.secret.by, DAVE);
      for (const v of e.versions) {
        assert.notEqual(v.by, DAVE);
        assert.ok(!v.keys.has(DAVE), `no key for Dave on ${v.id}`);
      }
    }
    assert.ok(hasConflict(r.conflicts, /by dave-id, who is removed from the vault in the other copy, is not kept/));
    assert.ok(hasConflict(r.conflicts, /^secret dave-secret as written by dave-id, who is removed from the vault in the other copy, is not kept/));
  });

  test('a version sealed to a member removed on the other side loses that key (re-signed), or the merge says so', () => {
    const base = baseState();
    const ours = removeMember(base, DAVE, T(5));
    const theirs = put(base, 'db', 'v2', T(6), BOB);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(Object.keys(keysOf(r.state, 'db', 'v2')), [ALICE, BOB, CAROL]);
    assert.equal(entryOf(r.state, 'db').versions.find((v) => v.id === 'v2')?.sig, undefined);
    const kept = mergeBoth(base, ours, theirs, nobody);
    assert.ok(Object.keys(keysOf(kept.state, 'db', 'v2')).includes(DAVE));
    assert.ok(hasConflict(kept.conflicts, /^version v2 of db still gives a key to dave-id, no longer a member/));
  });

  test('a policy deleted on one side and changed on the other stays deleted; changed on both, the newer wins', () => {
    const base = baseState();
    const deleted = state({ ...base, policies: [], secrets: [...base.secrets] });
    const changed = state({
      ...base,
      policies: [edit(base.policies[0] as PolicyRecord, { attached: [CAROL, DAVE], changed: T(5) })],
      secrets: [...base.secrets],
    });
    const r = mergeBoth(base, deleted, changed);
    assert.deepEqual(r.state.policies, []);
    assert.ok(hasConflict(r.conflicts, /^policy "readers" was deleted in one copy and changed in the other; it stays deleted/));
    const later = state({ ...base, policies: [edit(base.policies[0] as PolicyRecord, { attached: [], changed: T(6) }, BOB)], secrets: [...base.secrets] });
    const both = mergeBoth(base, changed, later);
    assert.deepEqual(
      both.state.policies.map((p) => p.attached),
      [[]],
    );
    // Deleted on one side, untouched on the other: deleted, silently.
    assert.deepEqual(mergeBoth(base, deleted, base).state.policies, []);
  });

  test('version keys re-sealed differently on both sides are merged per reader; a withdrawn reader stays withdrawn', () => {
    const base = baseState();
    // Ours withdraws Dave and re-seals Bob; theirs re-seals Alice and Dave (a fresh seal of the same data key).
    const ours = reseal(base, 'db', 'v1', { [ALICE]: 'dk-v1-alice-id', [BOB]: 'bob-2', [CAROL]: 'dk-v1-carol-id' });
    const theirs = reseal(base, 'db', 'v1', { [ALICE]: 'alice-2', [BOB]: 'dk-v1-bob-id', [CAROL]: 'dk-v1-carol-id', [DAVE]: 'dave-2' }, BOB);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(keysOf(r.state, 'db', 'v1'), { [ALICE]: 'alice-2', [BOB]: 'bob-2', [CAROL]: 'dk-v1-carol-id' });
    assert.equal(entryOf(r.state, 'db').versions.find((v) => v.id === 'v1')?.sig, undefined, 're-signed by the merger');
  });

  test('a reader granted on both sides (two different seals) keeps a key', () => {
    const base = reseal(baseState(), 'db', 'v1', { [ALICE]: 'a', [BOB]: 'b' }, ALICE, 1);
    const ours = reseal(base, 'db', 'v1', { [ALICE]: 'a', [BOB]: 'b', [CAROL]: 'carol-x' });
    const theirs = reseal(base, 'db', 'v1', { [ALICE]: 'a', [BOB]: 'b', [CAROL]: 'carol-y' }, BOB);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(Object.keys(keysOf(r.state, 'db', 'v1')), [ALICE, BOB, CAROL]);
  });

  test('without a common ancestor, a version sealed differently keeps only the readers of both copies', () => {
    const base = baseState();
    const ours = reseal(base, 'db', 'v1', { [ALICE]: 'a', [BOB]: 'b' });
    const theirs = reseal(base, 'db', 'v1', { [ALICE]: 'a', [BOB]: 'b', [DAVE]: 'd' }, BOB);
    const r = mergeBoth(undefined, ours, theirs);
    assert.deepEqual(keysOf(r.state, 'db', 'v1'), { [ALICE]: 'a', [BOB]: 'b' });
    assert.ok(hasConflict(r.conflicts, /no common ancestor/));
  });

  test('re-sealed on both sides and not re-signable: one side kept whole, the same one whoever merges', () => {
    const base = baseState();
    const ours = reseal(base, 'db', 'v1', { [ALICE]: 'dk-v1-alice-id', [BOB]: 'dk-v1-bob-id' }); // withdraws Carol and Dave
    const theirs = reseal(base, 'db', 'v1', { [ALICE]: 'dk-v1-alice-id', [CAROL]: 'dk-v1-carol-id' }, BOB); // withdraws Bob and Dave
    const r = mergeBoth(base, ours, theirs, nobody);
    assert.ok(entryOf(r.state, 'db').versions.find((v) => v.id === 'v1')?.sig !== undefined);
    assert.ok(hasConflict(r.conflicts, /the readers of version v1 of db changed in both copies; kept one side's, which still gives a key to/));
    // A side holding exactly the merged keys is kept as signed, re-signable or not.
    const subset = reseal(base, 'db', 'v1', { [ALICE]: 'dk-v1-alice-id' }, BOB);
    const s = mergeBoth(base, ours, subset, nobody);
    assert.deepEqual(Object.keys(keysOf(s.state, 'db', 'v1')), [ALICE]);
  });

  test('a label moved on one side to a version the other side pruned keeps that version', () => {
    // A secret at the version limit: v0 (old, unlabelled) is what the next put prunes.
    const versions = Array.from({ length: MAX_VERSIONS }, (_, i) => version('s-big', `b${String(i).padStart(3, '0')}`, T(i)));
    const big = secret('s-big', 'big', { CURRENT: 'b099', PREVIOUS: 'b098' });
    const base = state({ head: head({ [ALICE]: 1, [BOB]: 1 }), secrets: [{ secret: big, versions }] });
    const ours = put(base, 'big', 'new', T(200), BOB);
    assert.ok(!versionIds(ours, 'big').includes('b000'), 'the put pruned b000');
    const theirs = meta(base, 'big', { stages: moveLabel(big.stages, 'keep', 'b000'), changed: T(201), act: 'UpdateSecretVersionStage' }, CAROL);
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(stagesOf(r.state, 'big'), { CURRENT: 'new', PREVIOUS: 'b099', keep: 'b000' });
    assert.ok(versionIds(r.state, 'big').includes('b000'));
    assertWellFormed(r.state);
  });

  test('versions added on both sides beyond the limit are pruned, oldest unlabelled first', () => {
    const versions = Array.from({ length: MAX_VERSIONS }, (_, i) => version('s-big', `b${String(i).padStart(3, '0')}`, T(i)));
    const base = state({ secrets: [{ secret: secret('s-big', 'big', { CURRENT: 'b099', PREVIOUS: 'b098' }), versions }] });
    const r = mergeBoth(base, put(base, 'big', 'x', T(200), BOB), put(base, 'big', 'y', T(201), CAROL));
    const ids = versionIds(r.state, 'big');
    assert.equal(ids.length, MAX_VERSIONS);
    assert.ok(!ids.includes('b000') && !ids.includes('b001'));
    assert.ok(ids.includes('x') && ids.includes('y') && ids.includes('b002'));
  });

  test('tags added on both sides stay within the tag limit', () => {
    const tags = new Map(Array.from({ length: MAX_TAGS - 2 }, (_, i) => [`t${String(i).padStart(2, '0')}`, 'x'] as [string, string]));
    const base = meta(baseState(), 'db', { tags }, ALICE, 1);
    const ours = meta(base, 'db', { tags: new Map([...tags, ['o1', '1'], ['o2', '2']]), changed: T(5) });
    const theirs = meta(base, 'db', { tags: new Map([...tags, ['u1', '1'], ['u2', '2']]), changed: T(6) }, CAROL);
    const r = mergeBoth(base, ours, theirs);
    const merged = entryOf(r.state, 'db').secret.tags;
    assert.equal(merged.size, MAX_TAGS);
    assert.ok(merged.has('u1') && merged.has('u2'), "the newer side's tags are kept");
    assert.ok(hasConflict(r.conflicts, /is dropped: with both copies' tags the secret would have more than 50/));
  });

  test('the same name created on both sides: one secret, the one created first, the other reported', () => {
    const base = baseState();
    const ours = withEntry(base, 's-o', {
      secret: secret('s-o', 'shared', { CURRENT: 'o1' }, { created: T(5), changed: T(5), by: BOB }),
      versions: [version('s-o', 'o1', T(5))],
    });
    const theirs = withEntry(base, 's-t', {
      secret: secret('s-t', 'shared', { CURRENT: 't1' }, { created: T(6), changed: T(6), by: CAROL }),
      versions: [version('s-t', 't1', T(6))],
    });
    const r = mergeBoth(base, ours, theirs);
    assert.equal(entryOf(r.state, 'shared').secret.id, 's-o');
    assert.ok(hasConflict(r.conflicts, /^secret shared was created in both copies; kept the one created first \(s-o\); the other \(s-t\) is dropped/));
    assertWellFormed(r.state);
    // With no base at all, the same.
    assert.equal(entryOf(mergeBoth(undefined, ours, theirs).state, 'shared').secret.id, 's-o');
  });

  test('deleted and created again under the same name on one side, changed on the other: the new secret is kept', () => {
    const base = baseState();
    const ours = withEntry(withEntry(base, 's-db', undefined), 's-db2', {
      secret: secret('s-db2', 'db', { CURRENT: 'w1' }, { created: T(5), changed: T(5) }),
      versions: [version('s-db2', 'w1', T(5))],
    });
    const theirs = put(base, 'db', 'v2', T(6), CAROL);
    const r = mergeBoth(base, ours, theirs);
    assert.equal(entryOf(r.state, 'db').secret.id, 's-db2');
    assert.ok(hasConflict(r.conflicts, /^secret db was deleted and created again in one copy and changed in the other; kept the new secret \(s-db2\)/));
    assert.ok(!hasConflict(r.conflicts, /it is kept: delete it again/), 'no report contradicts the outcome');
    assertWellFormed(r.state);
  });

  test("head counters are each writer's maximum; audit anchors come from the copy with that writer's later write", () => {
    const base = baseState();
    const ours = state({ ...base, head: head({ [ALICE]: 5, [BOB]: 2 }, { [ALICE]: 'log-a:9:h9', [BOB]: 'log-b:1:h1' }), secrets: [...base.secrets] });
    const theirs = state({
      ...base,
      head: head({ [ALICE]: 3, [BOB]: 4, [CAROL]: 7 }, { [ALICE]: 'log-a:4:h4', [BOB]: 'log-b:3:h3', [CAROL]: 'log-c:2:h2' }),
      secrets: [...base.secrets],
    });
    const r = mergeBoth(base, ours, theirs);
    assert.deepEqual(Object.fromEntries(r.state.head.ctrs), { [ALICE]: 5, [BOB]: 4, [CAROL]: 7 });
    assert.deepEqual(Object.fromEntries(r.state.head.audit ?? new Map()), { [ALICE]: 'log-a:9:h9', [BOB]: 'log-b:3:h3', [CAROL]: 'log-c:2:h2' });
    assert.equal(r.state.head.sig, undefined, 'the head is rebuilt and signed by the merger');
    // One identity writing on two machines at the same counter: the same anchor whoever merges.
    const o2 = state({ ...base, head: head({ [BOB]: 4 }, { [BOB]: 'log-x:1:h' }), secrets: [...base.secrets] });
    const t2 = state({ ...base, head: head({ [BOB]: 4 }, { [BOB]: 'log-y:1:h' }), secrets: [...base.secrets] });
    mergeBoth(base, o2, t2);
  });

  test("a label a current member put on a removed member's concurrent version keeps that version, and says so", () => {
    const base = baseState();
    const ours = removeMember(base, DAVE, T(5));
    const daves = put(base, 'api', 'a2', T(6), DAVE, 2);
    // Bob then moves a custom label onto Dave's version: his own record, signed by a current member.
    const theirs = meta(
      daves,
      'api',
      { stages: moveLabel(entryOf(daves, 'api').secret.stages, 'blue', 'a2'), changed: T(7), act: 'UpdateSecretVersionStage' },
      BOB,
      2,
    );
    const r = mergeBoth(base, ours, theirs);
    assertWellFormed(r.state);
    const api = entryOf(r.state, 'api');
    assert.equal(api.secret.stages.get('blue'), 'a2');
    const a2 = api.versions.find((v) => v.id === 'a2');
    assert.ok(a2 && a2.sig === undefined && !a2.keys.has(DAVE), 'kept, without his key, for the merger to re-sign');
    assert.ok(
      hasConflict(
        r.conflicts,
        /version a2 of api was written by dave-id, who is removed from the vault in the other copy; it is kept because a label points at it/,
      ),
    );
  });

  test('the same client request token with two different values on the two sides: one value, the newer, reported', () => {
    const base = baseState();
    const ours = put(base, 'db', 'tok', T(5), BOB);
    const theirs0 = put(base, 'db', 'tok', T(6), CAROL);
    const theirs = withEntry(theirs0, 's-db', {
      ...entryOf(theirs0, 'db'),
      versions: entryOf(theirs0, 'db').versions.map((v) => (v.id === 'tok' ? { ...v, ct: 'ct-other' } : v)),
    });
    const r = mergeBoth(base, ours, theirs);
    assert.equal(entryOf(r.state, 'db').versions.find((v) => v.id === 'tok')?.ct, 'ct-other');
    assert.ok(hasConflict(r.conflicts, /^version tok of db holds different values in the two copies; kept the newer/));
    assertWellFormed(r.state);
  });

  test('two copies of different vaults are refused', () => {
    const base = baseState();
    const other = { ...base, vault: { ...VAULT, id: 'vault-2', sig: 'sig:other' } };
    assert.throws(
      () => mergeVaults(base, base, other, anyone),
      (e: unknown) => e instanceof Error && /two different vaults/.test(e.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random edit scripts applied to one base, merged both ways round

type Step =
  | { op: 'put'; s: number; t: number; w: number }
  | { op: 'token'; s: number; t: number; w: number }
  | { op: 'label'; s: number; v: number; label: string; t: number; w: number }
  | { op: 'tag'; s: number; k: string; value: string | null; t: number; w: number }
  | { op: 'desc'; s: number; value: string | null; t: number; w: number }
  | { op: 'delete'; s: number; t: number; w: number }
  | { op: 'force'; s: number; w: number }
  | { op: 'create'; name: string; t: number; w: number }
  | { op: 'reseal'; s: number; v: number; who: number; how: 'add' | 'drop' | 'renew'; w: number }
  | { op: 'remove'; who: number; t: number }
  | { op: 'policy'; name: string; drop: boolean; t: number }
  | { op: 'rotation'; s: number; handler: string | null; t: number; w: number };

const at = fc.integer({ min: 10, max: 13 });
const idx = fc.nat(5);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), s: idx, t: at, w: idx }),
  fc.record({ op: fc.constant('token' as const), s: idx, t: at, w: idx }),
  fc.record({
    op: fc.constant('label' as const),
    s: idx,
    v: fc.integer({ min: -1, max: 6 }),
    label: fc.constantFrom('CURRENT', 'PENDING', 'blue'),
    t: at,
    w: idx,
  }),
  fc.record({ op: fc.constant('tag' as const), s: idx, k: fc.constantFrom('x', 'y'), value: fc.constantFrom('1', '2', null), t: at, w: idx }),
  fc.record({ op: fc.constant('desc' as const), s: idx, value: fc.constantFrom('d1', 'd2', null), t: at, w: idx }),
  fc.record({ op: fc.constant('delete' as const), s: idx, t: at, w: idx }),
  fc.record({ op: fc.constant('force' as const), s: idx, w: idx }),
  fc.record({ op: fc.constant('create' as const), name: fc.constantFrom('a', 'b', 'c', 'd'), t: at, w: idx }),
  fc.record({
    op: fc.constant('reseal' as const),
    s: idx,
    v: idx,
    who: fc.nat(3),
    how: fc.constantFrom('add' as const, 'drop' as const, 'renew' as const),
    w: idx,
  }),
  fc.record({ op: fc.constant('remove' as const), who: fc.nat(1), t: at }),
  fc.record({ op: fc.constant('policy' as const), name: fc.constantFrom('p1', 'p2'), drop: fc.boolean(), t: at }),
  fc.record({ op: fc.constant('rotation' as const), s: idx, handler: fc.constantFrom('password', 'command:/bin/rotate', null), t: at, w: idx }),
);

/** A base for the scripts: four members, a policy, secrets `a` (near the version limit) and `b` (two versions, one by Carol). */
function scriptBase(): VaultState {
  const aVersions = Array.from({ length: MAX_VERSIONS - 1 }, (_, i) => version('s-a', `a${String(i).padStart(3, '0')}`, T(i % 10)));
  const a = secret('s-a', 'a', { CURRENT: 'a098', PREVIOUS: 'a097', blue: 'a000' });
  const b = secret('s-b', 'b', { CURRENT: 'b1', PREVIOUS: 'b0' }, { by: CAROL, tags: new Map([['x', '1']]) });
  return state({
    policies: [policy('p1', T(0))],
    head: head({ [ALICE]: 1, [CAROL]: 1 }),
    secrets: [
      { secret: a, versions: aVersions },
      { secret: b, versions: [version('s-b', 'b0', T(1)), version('s-b', 'b1', T(2), PEOPLE, { by: CAROL })] },
    ],
  });
}

const isCurrent = (s: VaultState, id: string): boolean => s.members.some((m) => m.id === id && m.removed === undefined);
const unsign = <R extends { sig?: string }>(r: R): R => {
  const { sig: _sig, ...rest } = r;
  return rest as R;
};

/** Applies one step on one side as its writer would, then signs what changed (like the repository's write). */
function applyStep(s: VaultState, side: string, step: Step, fresh: () => string): VaultState {
  const members = PEOPLE.filter((id) => isCurrent(s, id));
  const admins = [ALICE, BOB].filter((id) => isCurrent(s, id));
  const writer = 'w' in step ? (members[step.w % members.length] as string) : ALICE;
  const entry = 's' in step ? s.secrets[step.s % Math.max(1, s.secrets.length)] : undefined;
  const sealTo = (vid: string): Map<string, string> => new Map(members.map((id) => [id, `dk-${vid}-${id}-${fresh()}`]));
  let next: VaultState = s;
  const replace = (e: SecretEntry | undefined): VaultState => withEntry(s, (entry as SecretEntry).secret.id, e);
  const live = entry !== undefined && entry.secret.deleted === undefined;
  switch (step.op) {
    case 'put':
    case 'token': {
      if (!live) return s;
      const vid = step.op === 'token' ? 'tok' : `${side}${fresh()}`;
      if (entry.versions.some((v) => v.id === vid)) return s;
      const v: VersionRecord = { ...unsign(version(entry.secret.id, vid, T(step.t))), ct: `ct-${vid}-${side}`, keys: sealTo(vid) };
      const rec = unsign({ ...entry.secret, stages: stagesForNewVersion(entry.secret.stages, vid, []), changed: T(step.t), act: 'PutSecretValue' });
      next = replace({ secret: rec, versions: pruneVersions(rec, [...entry.versions, v]) });
      break;
    }
    case 'label': {
      if (!live || entry.versions.length === 0) return s;
      const to = step.v < 0 ? undefined : entry.versions[step.v % entry.versions.length]?.id;
      if (to === undefined && step.label === 'CURRENT') return s;
      next = replace({
        secret: unsign({ ...entry.secret, stages: moveLabel(entry.secret.stages, step.label, to), changed: T(step.t), act: 'UpdateSecretVersionStage' }),
        versions: entry.versions,
      });
      break;
    }
    case 'tag': {
      if (!live) return s;
      const tags = new Map(entry.secret.tags);
      if (step.value === null) tags.delete(step.k);
      else tags.set(step.k, step.value);
      next = replace({ secret: unsign({ ...entry.secret, tags, changed: T(step.t), act: 'TagResource' }), versions: entry.versions });
      break;
    }
    case 'desc': {
      if (!live) return s;
      const { description: _d, ...rest } = entry.secret;
      next = replace({
        secret: unsign({ ...rest, ...(step.value !== null ? { description: step.value } : {}), changed: T(step.t), act: 'UpdateSecret' }),
        versions: entry.versions,
      });
      break;
    }
    case 'delete': {
      if (!entry) return s;
      if (entry.secret.deleted === undefined) {
        next = replace({
          secret: unsign({ ...entry.secret, deleted: T(step.t), purge: '2026-03-01T00:00:00.000Z', changed: T(step.t), act: 'DeleteSecret' }),
          versions: entry.versions,
        });
      } else {
        const { deleted: _d, purge: _p, ...rest } = entry.secret;
        next = replace({ secret: unsign({ ...rest, changed: T(step.t), act: 'RestoreSecret' }), versions: entry.versions });
      }
      break;
    }
    case 'force':
      if (!entry) return s;
      next = replace(undefined);
      break;
    case 'create': {
      if (s.secrets.some((e) => e.secret.name === step.name)) return s;
      const id = `s-${side}${fresh()}`;
      const vid = `${side}${fresh()}`;
      const rec = unsign(secret(id, step.name, { CURRENT: vid }, { created: T(step.t), changed: T(step.t) }));
      next = withEntry(s, id, { secret: rec, versions: [{ ...unsign(version(id, vid, T(step.t))), keys: sealTo(vid) }] });
      break;
    }
    case 'reseal': {
      if (!entry || entry.versions.length === 0) return s;
      const v = entry.versions[step.v % entry.versions.length] as VersionRecord;
      const who = PEOPLE[step.who] as string;
      const keys = new Map(v.keys);
      if (step.how === 'add' && isCurrent(s, who) && !keys.has(who)) keys.set(who, `dk-${v.id}-${who}-${fresh()}`);
      else if (step.how === 'drop' && keys.has(who)) keys.delete(who);
      else if (step.how === 'renew' && keys.has(who)) keys.set(who, `dk-${v.id}-${who}-${fresh()}`);
      else return s;
      next = replace({ secret: entry.secret, versions: entry.versions.map((x) => (x === v ? unsign({ ...v, keys }) : x)) });
      break;
    }
    case 'remove': {
      // As `member remove`: mark removed, re-sign what they signed, withdraw their keys, detach policies.
      const target = [CAROL, DAVE][step.who] as string;
      if (!isCurrent(s, target)) return s;
      const resign = <R extends Signed>(r: R): R => (r.by === target ? unsign(r) : r);
      next = {
        ...s,
        members: s.members.map((m) => (m.id === target ? unsign({ ...m, removed: T(step.t) }) : resign(m))),
        policies: s.policies.map((p) => (p.attached.includes(target) ? unsign({ ...p, attached: p.attached.filter((id) => id !== target) }) : resign(p))),
        secrets: s.secrets.map((e) => ({
          secret: resign(e.secret),
          versions: e.versions.map((v) => (v.keys.has(target) ? unsign({ ...v, keys: new Map([...v.keys].filter(([id]) => id !== target)) }) : resign(v))),
        })),
      };
      break;
    }
    case 'policy': {
      const others = s.policies.filter((p) => p.name !== step.name);
      const policies = step.drop ? others : [...others, unsign(policy(step.name, T(step.t), { doc: { Version: '2012-10-17', Statement: [], Sid: fresh() } }))];
      if (step.drop && others.length === s.policies.length) return s;
      next = { ...s, policies };
      break;
    }
    case 'rotation': {
      if (!live) return s;
      const { rotation: _r, ...rest } = entry.secret;
      next = replace({
        secret: unsign({
          ...rest,
          ...(step.handler !== null ? { rotation: { handler: step.handler, enabled: true, since: T(step.t) } } : {}),
          changed: T(step.t),
          act: 'RotateSecret',
        }),
        versions: entry.versions,
      });
      break;
    }
  }
  const by = step.op === 'remove' || step.op === 'policy' || step.op === 'reseal' ? (admins[0] as string) : writer;
  return commit(next, by, side);
}

/** Signs every unsigned record as `by` with its next counter, and records that counter in the head. */
function commit(s: VaultState, by: string, side: string): VaultState {
  const ctr = (s.head.ctrs.get(by) ?? 0) + 1;
  const sign = <R extends Signed>(r: R): R => (r.sig !== undefined ? r : { ...r, by, ctr, sig: sig(`${side}-${by}-${ctr}`) });
  const ctrs = new Map(s.head.ctrs).set(by, ctr);
  const audit = new Map(s.head.audit ?? []).set(by, `log-${side}-${by}:${ctr}:h`);
  return state({
    members: s.members.map(sign),
    policies: s.policies.map(sign),
    head: { ...s.head, ctrs, audit, sig: sig('head') },
    secrets: s.secrets.map((e) => ({ secret: sign(e.secret), versions: e.versions.map(sign) })),
  });
}

function runScript(base: VaultState, side: string, steps: readonly Step[]): VaultState {
  let n = 0;
  const fresh = (): string => `${side}-${++n}`;
  return steps.reduce((s, step) => applyStep(s, side, step, fresh), base);
}

describe('merge properties (random edit scripts on one base)', () => {
  const scripts = fc.tuple(fc.array(stepArb, { maxLength: 8 }), fc.array(stepArb, { maxLength: 8 }));

  test('merge(base, A, B) and merge(base, B, A) are semantically equal, and well formed', () => {
    fc.assert(
      fc.property(scripts, fc.boolean(), ([sa, sb], resign) => {
        const base = scriptBase();
        const a = runScript(base, 'A', sa);
        const b = runScript(base, 'B', sb);
        const may = resign ? anyone : nobody;
        const ab = mergeVaults(base, a, b, may);
        const ba = mergeVaults(base, b, a, may);
        assert.deepEqual(semantic(ab.state), semantic(ba.state));
        assertWellFormed(ab.state);
        // A removal in either copy sticks, and a removed member neither signs nor reads anything new.
        for (const m of [...a.members, ...b.members].filter((x) => x.removed !== undefined)) {
          assert.ok(!isCurrent(ab.state, m.id), `${m.name} stays removed`);
        }
        for (const e of ab.state.secrets) {
          for (const r of [e.secret, ...e.versions]) {
            if (r.sig === undefined || isCurrent(ab.state, r.by)) continue;
            if (resign) assert.fail(`${r.kind} of ${e.secret.name} is signed by removed ${r.by}`);
            assert.ok(hasConflict(ab.conflicts, /is signed by .*, no longer a member/), 'a record only a re-signature could save is reported');
          }
          for (const v of e.versions) {
            for (const id of v.keys.keys()) {
              if (isCurrent(ab.state, id)) continue;
              if (resign) assert.fail(`version ${v.id} of ${e.secret.name} gives a key to former member ${id}`);
              assert.ok(hasConflict(ab.conflicts, new RegExp(`version ${v.id} of ${e.secret.name} still gives a key to`)));
            }
          }
        }
        // Head counters are the per-writer maximum.
        for (const w of PEOPLE) assert.equal(ab.state.head.ctrs.get(w), Math.max(a.head.ctrs.get(w) ?? 0, b.head.ctrs.get(w) ?? 0) || undefined);
        // Without a base the merge is still symmetric and well formed.
        const nb = mergeVaults(undefined, a, b, may);
        assert.deepEqual(semantic(nb.state), semantic(mergeVaults(undefined, b, a, may).state));
        assertWellFormed(nb.state);
      }),
      { numRuns: 300 },
    );
  });

  test('merge(base, A, A) is A, and a side left unchanged yields the other', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 10 }), (steps) => {
        const base = scriptBase();
        const a = runScript(base, 'A', steps);
        const same = mergeVaults(base, a, a, anyone);
        assert.deepEqual(semantic(same.state), semantic(a));
        assert.deepEqual(same.conflicts, []);
        assert.deepEqual(semantic(mergeVaults(base, base, a, anyone).state), semantic(a));
        assert.deepEqual(semantic(mergeVaults(base, a, base, nobody).state), semantic(a));
      }),
      { numRuns: 200 },
    );
  });
});
