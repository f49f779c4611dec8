/**
 * Attacks on crossing a compaction through git, by an admin, an ex-admin holding his old key,
 * or anyone with push access, performed with real keys, a real bare remote and the built binary:
 *
 * - a "history before the compaction" pushed to git that itself starts with a forged compacted
 *   prefix (a checkpoint whose state lines roll a secret back), which replay alone would take on
 *   its signer's word: refused, since this machine does not hold that checkpoint;
 * - the same by an admin the victim removed, with and without a write of the victim not yet
 *   pushed: refused (the victim's pushed entries are never "re-applied" to launder the forgery);
 * - a byte appended after the compacted file's last entry: the clone crosses the compaction and
 *   is not left stuck with a merge whose trust state does not match;
 * - a hostile vault.yaml on another branch, holding the summarised entry and a damaged line: it
 *   is not searched, and the real history is found;
 * - an unparseable checkpoint line on the remote: a clean refusal.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planCompaction, type SecretSummary } from '../src/core/checkpoint.js';
import { type CheckpointEntry, type Entry, isGovernance, type OpEntry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { REPLAY_OPTIONS } from '../src/store/log-vault.js';
import { CHECKPOINT_DIGESTS, encodeLine, HEADER_LINE_V2, type Line, lineHash, signedEntry } from '../src/store/op-codec.js';
import { readLogBytes, replayInput, serializeLog } from '../src/store/op-log.js';
import { parseCopy } from '../src/sync/log-merge.js';
import { explain, git, GIT_PERSON, identityOf, scratchClone, syncOk, syncRefused, type Team, team, withTeam } from './support/git-team.js';

const lineOf = (l: Line): string => `- ${encodeLine(l)}\n`;

/** Makes `t` a team whose only data writer is alice (app/db: v0, v1, v2), and whose last shared entry is bob's governance change; returns a policy document. */
async function prepare(t: Team, root: string): Promise<string> {
  await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
  for (const v of ['v1', 'v2']) await t.a.ok(['put', 'app/db', '--value-stdin'], v);
  for (const x of [t.a, t.b, t.c]) await syncOk(x);
  const doc = join(root, 'noop.json');
  writeFileSync(doc, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'secrets:DeleteSecret', Resource: 'none/x' }] }));
  await t.b.ok(['policy', 'put', 'noop', '-f', doc]);
  await syncOk(t.b);
  await syncOk(t.a);
  return doc;
}

/**
 * Bob's forgery, pushed from a plain clone: a "history before the compaction" made of the real
 * governance (less his removal), an entry of his own, and a checkpoint of his over it whose state
 * moves app/db's AWSCURRENT back to v0; then his compaction of that file on top.
 */
async function pushFakeBase(t: Team, scratch: string, orphan = false): Promise<void> {
  git(scratch, ['pull', '-q', 'origin', 'main']);
  const bob = await identityOf(t.b);
  const file = join(scratch, 'vault.yaml');
  const bytes = readFileSync(file);
  const copy = await parseCopy(bytes, 'the remote');
  const input = replayInput(await readLogBytes(bytes));
  const real = replay(input, REPLAY_OPTIONS);
  const entryOf = (h: string): Entry => copy.entries.get(h) as Entry;
  const firstData = copy.units.findIndex((u) => !isGovernance(entryOf(u.hash)));
  const prefix = copy.units.slice(0, firstData);
  const laterGov = copy.units.slice(firstData).filter((u) => {
    const e = entryOf(u.hash);
    return isGovernance(e) && !(e.kind === 'op' && e.op === 'RemoveMember');
  });
  const dataFirst = (copy.units[firstData] as { hash: string }).hash;
  const policy = prefix.map((u) => entryOf(u.hash)).find((e) => e.kind === 'op' && e.op === 'PutPolicy') as OpEntry;
  const lastAt = [...copy.times.values()].sort().at(-1) as string;
  const bobSeq = real.seqs.get(bob.id) ?? 0;
  // X: bob's own entry, ground so that it sorts before alice's first data entry.
  let X: Entry | undefined;
  for (let i = 0; X === undefined; i++) {
    const at = new Date(Date.parse(lastAt) + i).toISOString();
    const e = signedEntry<Entry>(bob, copy.vault, {
      kind: 'op',
      op: 'PutPolicy',
      body: { policy: 'x', doc: (policy.body as { doc: unknown }).doc },
      by: bob.id,
      seq: bobSeq + 1,
      parents: [copy.vault],
      at,
    });
    if (lineHash(encodeLine(e)) < dataFirst) X = e;
  }
  const xHash = lineHash(encodeLine(X));
  const plan = planCompaction(input, real, CHECKPOINT_DIGESTS, bob.id, new Date(Date.parse(lastAt) + 1000).toISOString());
  const secrets: SecretSummary[] = plan.secrets.map((s) => {
    if (s.name !== 'app/db') return s;
    const [v0, v1] = s.versions.map((v) => v.id);
    return { ...s, stages: new Map([...s.stages.keys()].map((l) => [l, (/PREV/.test(l) ? v1 : v0) as string])) };
  });
  // `orphan`: the checkpoint names a head no copy holds (a compacted prefix, which replay takes on its
  // signer's word); X still sorts the forged file's own entries before alice's in a union.
  const kept = [...prefix.map((u) => u.hash), xHash, ...laterGov.map((u) => u.hash)];
  const c1 = signedEntry<CheckpointEntry>(bob, copy.vault, {
    ...plan.checkpoint,
    seq: bobSeq + 2,
    parents: [orphan ? lineHash('{"kind":"op","gone":1}') : xHash],
    seqs: new Map([...plan.checkpoint.seqs, [bob.id, bobSeq + 1]]),
    gov: CHECKPOINT_DIGESTS.gov(kept),
    state: CHECKPOINT_DIGESTS.state(secrets),
    secrets: secrets.length,
  });
  const full = Buffer.concat([
    Buffer.from(`${HEADER_LINE_V2}\n`),
    ...prefix.map((u) => Buffer.from(u.text)),
    Buffer.from(lineOf(X)),
    ...laterGov.map((u) => Buffer.from(u.text)),
    Buffer.from(secrets.map((s) => lineOf({ kind: 'state', ...s })).join('')),
    Buffer.from(plan.payloads.map((h) => lineOf(input.payloads.get(h) as Line)).join('')),
    Buffer.from(lineOf(c1)),
  ]);
  const fullInput = replayInput(await readLogBytes(full));
  const plan2 = planCompaction(fullInput, replay(fullInput, REPLAY_OPTIONS), CHECKPOINT_DIGESTS, bob.id, new Date(Date.parse(lastAt) + 2000).toISOString());
  const theirs = serializeLog([
    ...plan2.governance.map((g) => g.entry),
    ...plan2.secrets.map((s) => ({ kind: 'state' as const, ...s })),
    ...plan2.payloads.map((h) => fullInput.payloads.get(h) as Line),
    signedEntry<CheckpointEntry>(bob, copy.vault, plan2.checkpoint),
  ]);
  writeFileSync(file, full);
  git(scratch, ['commit', '-q', '-am', 'secrets: the history before a compaction'], GIT_PERSON);
  writeFileSync(file, theirs);
  git(scratch, ['commit', '-q', '-am', 'secrets: compacted'], GIT_PERSON);
  git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
}

/** Refused by whichever check meets the forgery first; each names the entry or checkpoint. */
const FAKE_BASE =
  /begins with a compaction this machine does not hold \(checkpoint \S+\), which it cannot check|leaves out entry \S+|on the history it summarises: entry \S+ is refused/;

describe('a forged compacted prefix in the history a compaction summarises', () => {
  for (const c of [
    { name: 'by an admin', remove: false, unpushed: false },
    { name: 'by an admin, its checkpoint naming a head no copy holds', remove: false, unpushed: false, orphan: true },
    { name: 'by an admin the victim removed, with his old key', remove: true, unpushed: false },
    { name: 'by a removed admin, while the victim has a write not yet pushed', remove: true, unpushed: true },
  ]) {
    it(`${c.name}: refused with exit 6, nothing merged, the secret not rolled back`, async () => {
      await withTeam('secrets-fake-base-', async (t, root) => {
        const doc = await prepare(t, root);
        if (c.remove) {
          await t.a.ok(['member', 'remove', 'bob', '--yes']);
          await t.a.ok(['policy', 'put', 'noop2', '-f', doc]);
          await syncOk(t.a);
        }
        await syncOk(t.c);
        const scratch = scratchClone(root, t.remote);
        await pushFakeBase(t, scratch, c.orphan === true);
        const expected = c.unpushed ? 'v3' : 'v2';
        if (c.unpushed) await t.a.ok(['put', 'app/db', '--value-stdin'], 'v3');
        // The first sync may commit alice's write and audit events before it refuses; the second changes nothing.
        const first = await t.a.run(['sync']);
        assert.equal(first.code, 6, explain('alice sync', first));
        await syncRefused(t.a, c.orphan === true ? /begins with a compaction this machine does not hold \(checkpoint \S+\), which it cannot check/ : FAKE_BASE);
        assert.equal(await t.a.ok(['get', 'app/db']), expected);
        assert.equal((await t.a.run(['verify'])).code, 0);
        const carol = await t.c.run(['sync']);
        assert.equal(carol.code, 6, explain('carol sync', carol));
        assert.equal(await t.c.ok(['get', 'app/db']), 'v2');
      });
    });
  }
});

describe('hostile or odd copies around a compaction', () => {
  let root: string;
  let t: Team;
  let scratch: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-compaction-odd-'));
    mkdirSync(join(root, 't'));
    t = await team(join(root, 't'));
    await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
    await t.a.ok(['put', 'app/db', '--value-stdin'], 'v1');
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    scratch = scratchClone(root, t.remote);
  });
  after(() => {
    t.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('an unparseable checkpoint line pushed to the remote: exit 6 and a message, no stack trace', async () => {
    const file = join(scratch, 'vault.yaml');
    const before = readFileSync(file);
    appendFileSync(file, '- {"kind":"checkpoint",}\n');
    git(scratch, ['commit', '-q', '-am', 'bad checkpoint'], GIT_PERSON);
    git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
    const err = await syncRefused(t.b, /damaged|refused/);
    assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
    writeFileSync(file, before);
    git(scratch, ['commit', '-q', '-am', 'undo'], GIT_PERSON);
    git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
    await syncOk(t.b);
  });

  it('a payload line appended after a compacted copy: the clone crosses the compaction and is not left stuck', async () => {
    await t.a.ok(['compact']);
    await syncOk(t.a);
    git(scratch, ['pull', '-q', 'origin', 'main']);
    const file = join(scratch, 'vault.yaml');
    const value = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('- {"kind":"value"')) as string;
    appendFileSync(file, `${value}\n`);
    git(scratch, ['commit', '-q', '-am', 'a trailing payload line'], GIT_PERSON);
    git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
    const r = await syncOk(t.b);
    assert.match(r.stderr, /took the compaction of the history by alice/, explain('bob sync', r));
    assert.equal(await t.b.ok(['get', 'app/db']), 'v1');
    await syncOk(t.b);
    assert.equal((await t.b.run(['verify'])).code, 0);
  });

  it('a hostile vault.yaml on another branch, holding the summarised entry and a damaged line, is not searched', async () => {
    await syncOk(t.b);
    await syncOk(t.c);
    await t.a.ok(['put', 'app/db', '--value-stdin'], 'v2'); // the head the compaction summarises: carol lacks it
    await t.a.ok(['compact']);
    await syncOk(t.a);
    git(scratch, ['fetch', '-q', 'origin']);
    const history = git(scratch, ['log', '--format=%H', 'origin/main', '--', 'vault.yaml']).split('\n')[1] as string;
    git(scratch, ['checkout', '-q', '-b', 'junk', history]);
    appendFileSync(join(scratch, 'vault.yaml'), '- {"kind":"op" damaged\n- {"kind":"op","x":1}\n');
    git(scratch, ['commit', '-q', '-am', 'junk'], { ...GIT_PERSON, GIT_COMMITTER_DATE: '2099-01-01T00:00:00Z' });
    git(scratch, ['push', '-q', 'origin', 'junk']);
    const r = await syncOk(t.c);
    assert.match(r.stderr, /took the compaction of the history by alice/, explain('carol sync', r));
    assert.equal(await t.c.ok(['get', 'app/db']), 'v2');
  });
});
