// Merging two copies of a format-2 vault (sync/log-merge.ts) in memory, with real keys and
// signatures: the result replays to the same state whoever merges and whichever copy is ours;
// fast-forwards add nothing; a removed member's concurrent op is dropped and reported; and every
// refusal of the merge (a copy that does not verify, another vault, a remote that lost a head
// it had, a result that lost a head this machine verified, a merger who is not a member).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SecretsError } from '../src/core/errors.js';
import type { Action, Entry, OpBodies, Payload } from '../src/core/ops.js';
import { replay, type ReplayResult } from '../src/core/replay.js';
import { canonicalState } from '../src/core/state.js';
import { encodeLine, lineHash, signedEntry, type UnsignedEntry } from '../src/store/op-codec.js';
import { readLogBytes, replayInput, serializeLog } from '../src/store/op-log.js';
import { TrustStore } from '../src/store/trust.js';
import { type LogMergeOptions, mergeLogCopies } from '../src/sync/log-merge.js';
import { fixtureLog, type LinearLog, minute, REAL_REPLAY, type TestMember, testMember } from './support/oplog.js';

/** Appends `op`, signed by `by` on the copy's heads, to a copy of the file. */
async function extend<A extends Action>(file: Buffer, by: TestMember, op: A, body: OpBodies[A], payloads: readonly Payload[] = []): Promise<Buffer> {
  const read = await readLogBytes(file);
  const named = new Set(read.entries.flatMap((e) => e.entry.parents));
  const heads = read.entries.map((e) => e.hash).filter((h) => !named.has(h));
  const seq = Math.max(0, ...read.entries.filter((e) => e.entry.by === by.keys.id).map((e) => e.entry.seq)) + 1;
  const at = minute(30 + read.entries.length);
  const entry = signedEntry<Entry>(
    by.identity,
    read.entries[0]?.hash as string,
    {
      kind: 'op',
      op,
      body,
      by: by.keys.id,
      seq,
      parents: heads.sort(),
      at,
    } as UnsignedEntry,
  );
  return Buffer.concat([file, Buffer.from([...payloads, entry].map((l) => `- ${encodeLine(l)}\n`).join(''))]);
}

async function replayed(file: Buffer): Promise<ReplayResult> {
  return replay(replayInput(await readLogBytes(file)), REAL_REPLAY);
}

const refused =
  (code: string, message: RegExp) =>
  (err: unknown): boolean =>
    err instanceof SecretsError && err.code === code && message.test(err.message);

describe('merging format-2 copies', () => {
  let dir: string;
  let alice: TestMember;
  let bob: TestMember;
  let base: Buffer;
  let ours: Buffer;
  let theirs: Buffer;
  let id: string;
  let log: LinearLog;
  const opts = (who: TestMember, extra: Partial<LogMergeOptions> = {}): LogMergeOptions => ({
    identity: who.identity,
    clock: { now: () => new Date(minute(200)) },
    trust: new TrustStore(mkdtempSync(join(dir, 'trust-'))),
    theirsName: 'the other copy',
    ...extra,
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'log-merge-'));
    const fixture = await fixtureLog();
    ({ alice, bob, log } = fixture);
    base = serializeLog(fixture.log.lines);
    id = fixture.log.secretId('app/db');
    const v = fixture.log.version('app/db#alice', [alice.keys, bob.keys]);
    ours = await extend(base, alice, 'PutSecretValue', { secret: id, name: 'app/db', value: v.ref }, v.payloads);
    ours = await extend(ours, alice, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['who', 'alice']]) });
    theirs = await extend(base, bob, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['who', 'bob']]) });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the union and one merge entry signed by the merger; the same state whoever merges, in either order', async () => {
    const byAlice = await mergeLogCopies(ours, theirs, opts(alice));
    const byBob = await mergeLogCopies(theirs, ours, opts(bob));
    assert.equal(byAlice.outcome, 'merged');
    const [a, b] = [await replayed(byAlice.text), await replayed(byBob.text)];
    assert.equal(canonicalState(a.state), canonicalState(b.state), 'replay(merge(A,B)) = replay(merge(B,A))');
    assert.equal(a.heads.length, 1);
    const last = (await readLogBytes(byAlice.text)).entries.at(-1);
    assert.equal(last?.entry.kind, 'merge');
    assert.equal(last?.entry.by, alice.keys.id);
    assert.equal(last?.entry.parents.length, 2);
    // Apart from the merge line, the two files are the same bytes: the union does not depend on who merges.
    const withoutLast = (t: Buffer): string => t.toString('utf8').split('\n').slice(0, -2).join('\n');
    assert.equal(withoutLast(byAlice.text), withoutLast(byBob.text));
    assert.ok(byAlice.text.subarray(0, base.length).equals(base), 'the common prefix is kept byte for byte');
    assert.ok(byAlice.reports.some((r) => /^conflict: tag who also set by concurrent .* on app\/db\)$/.test(r)));
    assert.ok(byAlice.reports.some((r) => /joined two branches: 2 entries here, 1 from the other copy/.test(r)));
    // Merging the merge into either side is a fast-forward: the files converge.
    const ff = await mergeLogCopies(theirs, byAlice.text, opts(bob));
    assert.equal(ff.outcome, 'fast-forward');
    assert.ok(ff.text.equals(byAlice.text));
    const none = await mergeLogCopies(byAlice.text, ours, opts(alice));
    assert.equal(none.outcome, 'unchanged');
    assert.ok(none.text.equals(byAlice.text));
  });

  test('property: replay(merge(A, B)) = replay(merge(B, A)) whoever merges; merging the merge into either copy is a fast-forward', async () => {
    // Steps either member may take on a branch: puts to one secret, tags of one key, new secrets.
    const step = fc.constantFrom('alice-put', 'bob-put', 'bob-tag', 'alice-tag', 'alice-create', 'bob-create');
    let n = 0;
    /** Creates made on the branch so far: the k-th create of each branch names app/new-k, so branches collide but a branch never repeats a name (that would be a forgery). */
    let creates = 0;
    const apply = async (file: Buffer, s: string): Promise<Buffer> => {
      const label = `step ${++n}`;
      const who = s.startsWith('alice') ? alice : bob;
      if (s.endsWith('tag')) return extend(file, who, 'TagResource', { secret: id, name: 'app/db', tags: new Map([['k', label]]) });
      const v = log.version(label, [alice.keys, bob.keys]);
      if (s.endsWith('put')) return extend(file, who, 'PutSecretValue', { secret: id, name: 'app/db', value: v.ref }, v.payloads);
      // Both branches may create the same name: the second in order is dropped, whoever merges.
      const name = `app/new-${++creates}`;
      return extend(file, who, 'CreateSecret', { secret: log.secretId(name), name, value: v.ref }, v.payloads);
    };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 4 }), fc.array(step, { maxLength: 4 }), async (left, right) => {
        let a = base;
        let b = base;
        creates = 0;
        for (const s of left) a = await apply(a, s);
        creates = 0;
        for (const s of right) b = await apply(b, s);
        const ab = await mergeLogCopies(a, b, opts(alice));
        const ba = await mergeLogCopies(b, a, opts(bob));
        assert.equal(canonicalState((await replayed(ab.text)).state), canonicalState((await replayed(ba.text)).state));
        assert.equal(ab.outcome, left.length > 0 && right.length > 0 ? 'merged' : right.length > 0 ? 'fast-forward' : 'unchanged');
        for (const side of [a, b]) assert.notEqual((await mergeLogCopies(side, ab.text, opts(bob))).outcome, 'merged');
      }),
      { numRuns: 100 },
    );
  });

  test("a removed member's concurrent op is dropped and reported", async () => {
    const removal = await extend(base, alice, 'RemoveMember', { member: bob.keys.id });
    const merged = await mergeLogCopies(removal, theirs, opts(alice));
    const r = await replayed(merged.text);
    assert.equal(r.state.secrets.get(id)?.tags.get('who'), undefined, "bob's tag has no effect");
    assert.ok(
      merged.reports.some((m) => /^dropped: .*bob.* was removed from the vault \(TagResource \S+ by bob on app\/db\)$/.test(m)),
      merged.reports.join('\n'),
    );
    // Bob, removed in the union, cannot sign a merge.
    await assert.rejects(mergeLogCopies(theirs, removal, opts(bob)), refused('DENIED', /not a member of the merged vault/));
  });

  test('refusals: a copy that does not verify, another vault, a remote that lost a head, a result that lost a verified head', async () => {
    // A flipped byte in the other copy's last entry (its signature).
    const text = theirs.toString('utf8');
    const at = text.lastIndexOf('"sig":"') + 10;
    const forged = Buffer.from(text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1));
    await assert.rejects(
      mergeLogCopies(ours, forged, opts(alice)),
      refused('INTEGRITY', /^the other copy: entry \S+ is refused: its signature does not verify/),
    );

    const carol = await testMember('carol');
    const elsewhere = serializeLog([
      signedEntry<Entry>(carol.identity, '', {
        kind: 'op',
        op: 'CreateVault',
        body: { vault: '7c1f0d52-3a55-4d1e-8a4e-0d3b9b8f2c11', name: 'other', format: 2, creator: carol.keys },
        by: carol.keys.id,
        seq: 1,
        parents: [],
        at: minute(1),
      }),
    ]);
    await assert.rejects(mergeLogCopies(ours, elsewhere, opts(alice)), refused('INTEGRITY', /is another vault/));

    // A merge signed by someone who is not a member, over the union of both copies.
    const joined = (await mergeLogCopies(ours, theirs, opts(alice))).text.toString('utf8').split('\n').slice(0, -2).join('\n');
    const union = await readLogBytes(Buffer.from(`${joined}\n`));
    const named = new Set(union.entries.flatMap((e) => e.entry.parents));
    const strange = signedEntry<Entry>(carol.identity, union.entries[0]?.hash as string, {
      kind: 'merge',
      by: carol.keys.id,
      seq: 1,
      parents: union.entries
        .map((e) => e.hash)
        .filter((h) => !named.has(h))
        .sort(),
      at: minute(100),
    });
    const byStranger = Buffer.from(`${joined}\n- ${encodeLine(strange)}\n`);
    await assert.rejects(
      mergeLogCopies(ours, byStranger, opts(alice)),
      refused('INTEGRITY', new RegExp(`^the other copy: entry ${lineHash(encodeLine(strange)).replace(/[+/=]/g, '\\$&')} is refused: .*not a member`)),
    );

    const theirsHead = (await replayed(theirs)).heads[0] as string;
    const remoteHeads = async (): Promise<readonly string[]> => [theirsHead];
    await assert.rejects(
      mergeLogCopies(ours, base, opts(alice, { remoteHeads })),
      refused('INTEGRITY', new RegExp(`does not hold entry ${theirsHead.replace(/[+/=]/g, '\\$&')}, which the remote had`)),
    );

    const trust = new TrustStore(mkdtempSync(join(dir, 'trust-')));
    const verified = await replayed(theirs);
    trust.put(verified.state.id, { genesis: lineHash(base.toString('utf8').split('\n')[1]?.slice(2) ?? ''), ctrs: verified.seqs, heads: verified.heads });
    // This machine verified bob's tag; a copy of ours alone (merged with the base) lacks it.
    await assert.rejects(mergeLogCopies(ours, base, opts(alice, { trust })), refused('INTEGRITY', /does not extend what this machine verified: entry/));
    await mergeLogCopies(ours, theirs, opts(alice, { trust }));
  });
});
