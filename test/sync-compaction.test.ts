/**
 * An admin's `secrets compact` through git, end to end with a real bare remote and the built
 * binary: the compaction is pushed with the history it summarises, and every other clone's
 * `sync` checks the checkpoint against that history and takes it; a member's entries that were
 * not pushed are re-applied on top; an admin who compacted before seeing a push compacts again.
 * And refused, with exit 6 and nothing changed: a compaction that leaves out an entry the
 * clone verified, a checkpoint that is not the summary of its history, one signed by a
 * non-admin.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planCompaction } from '../src/core/checkpoint.js';
import type { CheckpointEntry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import type { Identity } from '../src/core/ports.js';
import { REPLAY_OPTIONS } from '../src/store/log-vault.js';
import { CHECKPOINT_DIGESTS, type Line, signedEntry } from '../src/store/op-codec.js';
import { OpLog, replayInput, serializeLog } from '../src/store/op-log.js';
import { explain, git, GIT_PERSON, identityOf, scratchClone, syncOk, syncRefused, type Team, team, view } from './support/git-team.js';

/** Whether a vault file is compacted (holds `state` lines). */
const compacted = (vault: string): boolean => /^- \{"kind":"state",/m.test(readFileSync(vault, 'utf8'));

describe('a compaction through git', () => {
  let root: string;
  let t: Team;
  let scratch: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-sync-compact-'));
    mkdirSync(join(root, 't'));
    t = await team(join(root, 't'));
    await t.a.ok(['create', 'app/db', '--value-stdin'], 'v0');
    for (const v of ['v1', 'v2']) await t.a.ok(['put', 'app/db', '--value-stdin'], v);
    await t.a.ok(['create', 'app/api', '--value-stdin'], 'api-1');
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    scratch = scratchClone(root, t.remote);
  });
  after(() => {
    t.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it("every clone's sync checks an admin's compaction against the history it summarises and takes it; a member's unpushed write is re-applied on top", async () => {
    // Bob writes and does not push; alice compacts and pushes.
    await t.b.ok(['put', 'app/api', '--value-stdin'], 'api-from-bob');
    await t.a.ok(['compact']);
    assert.ok(compacted(t.a.vault));
    const pushed = await syncOk(t.a);
    assert.doesNotMatch(pushed.stderr, /compacted again/);

    const c = await syncOk(t.c);
    assert.match(c.stderr, /took the compaction of the history by alice \(checkpoint \S+\), checked against the history it summarises/, explain('carol', c));
    assert.equal(readFileSync(t.c.vault, 'utf8'), readFileSync(t.a.vault, 'utf8'), "carol's file is alice's compacted file");
    assert.equal((await t.c.run(['verify'])).code, 0);
    assert.equal(await t.c.ok(['get', 'app/db']), 'v2');

    const b = await syncOk(t.b);
    assert.match(b.stderr, /took the compaction .*; 1 entry of this copy re-applied on top/, explain('bob', b));
    assert.doesNotMatch(b.stderr, /api-from-bob/, 'reports hold no value');
    assert.equal(await t.b.ok(['get', 'app/api']), 'api-from-bob');
    assert.ok(compacted(t.b.vault), "bob's file is the compacted one, with his write after the checkpoint");
    await syncOk(t.a);
    await syncOk(t.c);
    assert.equal(await t.a.ok(['get', 'app/api']), 'api-from-bob');
    const seen = await view(t.a);
    assert.equal(await view(t.b), seen);
    assert.equal(await view(t.c), seen);
    for (const x of [t.a, t.b, t.c]) assert.equal((await x.run(['verify'])).code, 0, `${x.name}: verify`);

    // Ordinary work goes on after it.
    await t.c.ok(['create', 'after/compaction', '--value-stdin'], 'later');
    await syncOk(t.c);
    await syncOk(t.b);
    assert.equal(await t.b.ok(['get', 'after/compaction']), 'later');
  });

  it('a re-applied entry whose text holds what looks like a line start keeps its payloads and body whole', async () => {
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    const tricky = 'see - {"kind":"op"} and - {"kind":"value"}';
    await t.b.ok(['create', 'app/tricky', '--value-stdin'], 'tricky-value');
    await t.b.ok(['update', 'app/tricky', '--description', tricky]);
    await t.a.ok(['compact']);
    await syncOk(t.a);
    const b = await syncOk(t.b);
    assert.match(b.stderr, /took the compaction .*; 2 entries of this copy re-applied on top/, explain('bob', b));
    await syncOk(t.a);
    for (const x of [t.a, t.b]) {
      assert.equal(await x.ok(['get', 'app/tricky']), 'tricky-value', x.name);
      assert.equal((JSON.parse(await x.ok(['describe', 'app/tricky', '--json'])) as { Description?: string }).Description, tricky, x.name);
      assert.equal((await x.run(['verify'])).code, 0, `${x.name}: verify`);
    }
  });

  it('an admin who compacted before seeing a push has her compaction set aside on sync, keeping every write, and compacts again', async () => {
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    await t.c.ok(['put', 'app/db', '--value-stdin'], 'from-carol');
    await syncOk(t.c);
    // Alice has not seen carol's write: she writes, compacts, writes again, then syncs.
    await t.a.ok(['create', 'alice/before', '--value-stdin'], 'ab');
    await t.a.ok(['compact']);
    assert.match(git(t.a.dir, ['log', '--format=%s', '-1']), /secrets: the history before a compaction/, 'compact commits the history it summarises');
    await t.a.ok(['create', 'alice/after', '--value-stdin'], 'aa');
    const a = await syncOk(t.a);
    assert.match(
      a.stderr,
      /set aside this machine's compaction \(checkpoint \S+, never pushed\): the remote's copy \(\S+\) held 1 entry written after the history it summarises/,
      explain('alice', a),
    );
    for (const x of [t.a, t.b, t.c]) if (x !== t.a) await syncOk(x);
    for (const x of [t.a, t.b, t.c]) {
      assert.equal(await x.ok(['get', 'app/db']), 'from-carol', x.name);
      assert.equal(await x.ok(['get', 'alice/before']), 'ab', x.name);
      assert.equal(await x.ok(['get', 'alice/after']), 'aa', x.name);
    }
    // Compacted again, after a sync: everyone takes it.
    await t.a.ok(['compact']);
    await syncOk(t.a);

    for (const x of [t.b, t.c]) {
      const r = await syncOk(x);
      assert.match(r.stderr, /took the compaction of the history by alice/, explain(x.name, r));
      assert.ok(compacted(x.vault));
    }
    const seen = await view(t.a);
    assert.equal(await view(t.b), seen);
    assert.equal(await view(t.c), seen);
  });

  it('two admins who compacted at once: the later sync is refused with exit 4, nothing merged, and accepting the other compaction is the way on', async () => {
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    await t.a.ok(['put', 'app/db', '--value-stdin'], 'alice-before-compacting');
    const theirs = (JSON.parse(await t.a.ok(['compact', '--json'])) as { Checkpoint: string }).Checkpoint;
    await syncOk(t.a);
    // Bob, an admin too, has not seen it: he writes, compacts, writes again.
    await t.b.ok(['create', 'bob/before', '--value-stdin'], 'bb');
    await t.b.ok(['compact']);
    await t.b.ok(['create', 'bob/after', '--value-stdin'], 'ba');
    // The first sync commits bob's work and audit events, then refuses; the second changes nothing at all.
    assert.equal((await t.b.run(['sync'])).code, 4);
    await syncRefused(t.b, /two admins compacted at once, and only one compaction can be kept; nothing was merged/, 4);
    // Bob gives his up: he takes alice's file and her checkpoint, as the hint says.
    git(t.b.dir, ['fetch', '-q', 'origin']);
    git(t.b.dir, ['checkout', '-q', 'origin/main', '--', 'vault.yaml']);
    await t.b.ok(['verify', '--accept-checkpoint', theirs]);
    assert.equal(await t.b.ok(['get', 'app/db']), 'alice-before-compacting');
    await syncOk(t.b);
    await t.b.ok(['create', 'bob/again', '--value-stdin'], 'bg');
    await syncOk(t.b);
    await syncOk(t.a);
    await syncOk(t.c);
    for (const x of [t.a, t.b, t.c]) {
      assert.equal(await x.ok(['get', 'bob/again']), 'bg', x.name);
      assert.equal((await x.run(['verify'])).code, 0, `${x.name}: verify`);
    }
  });

  /** Alice's client compacts `file` (a scratch copy) as she would, with a state of its own. */
  async function compactCopy(file: string): Promise<void> {
    const r = await t.a.sb.run(['compact'], { env: { ...t.a.env, SECRETS_VAULT: file, XDG_STATE_HOME: join(root, `state-${Date.now()}`) } });
    assert.equal(r.code, 0, explain('compact a copy', r));
  }

  /** Commits the scratch clone's vault.yaml and force-pushes it. */
  function pushOver(message: string): void {
    git(scratch, ['commit', '-q', '-am', message], GIT_PERSON);
    git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
  }

  it('a compaction that leaves out an entry the clone verified is refused: an admin cannot compact a write away', async () => {
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    const old = readFileSync(join(scratch, 'vault.yaml'));
    // Carol rotates a password by hand and pushes; bob sees it.
    await t.c.ok(['put', 'app/db', '--value-stdin'], 'carol-rotated');
    await syncOk(t.c);
    await syncOk(t.b);
    // An admin compacts the history before carol's write and pushes it on top of the remote.
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    writeFileSync(join(scratch, 'vault.yaml'), old);
    await compactCopy(join(scratch, 'vault.yaml'));
    git(scratch, ['commit', '-q', '-am', 'compact an older history'], GIT_PERSON);
    git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
    const err = await syncRefused(
      t.b,
      /is compacted by checkpoint \S+, and it leaves out entry \S+( \(PutSecretValue on app\/db by \S+\), which this machine holds and cannot re-apply|, which the remote had when this machine last saw it)/,
    );
    assert.doesNotMatch(err, /carol-rotated/);
    assert.equal(await t.b.ok(['get', 'app/db']), 'carol-rotated');
    git(t.c.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
  });

  /** Signs a checkpoint over the head of `file` as `signer`, with `tamper` applied to the plan, and returns the compacted file. */
  async function forgedCompaction(file: string, signer: Identity, tamper: (secrets: Line[]) => Line[]): Promise<Buffer> {
    const read = await new OpLog({ path: file, lockTimeoutMs: 1000 }).read();
    const input = replayInput(read);
    const result = replay(input, REPLAY_OPTIONS);
    const plan = planCompaction(input, result, CHECKPOINT_DIGESTS, signer.id, new Date().toISOString());
    const secrets = tamper(plan.secrets.map((s) => ({ kind: 'state' as const, ...s })));
    const payloads = [...new Set(secrets.flatMap((l) => (l.kind === 'state' ? l.versions.flatMap((v) => [v.v, v.k]) : [])))];
    const checkpoint = signedEntry<CheckpointEntry>(signer, read.entries[0]?.hash as string, {
      ...plan.checkpoint,
      secrets: secrets.length,
      state: CHECKPOINT_DIGESTS.state(secrets.map(({ kind: _k, ...s }) => s as never)),
    });
    return serializeLog([...plan.governance.map((g) => g.entry), ...secrets, ...payloads.map((h) => input.payloads.get(h) as Line), checkpoint]);
  }

  it("a checkpoint that is not the summary of its history is refused, even an admin's; so is one signed by a non-admin", async () => {
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    const file = join(scratch, 'vault.yaml');
    // Bob (an admin) drops app/api from the state he signs: a fresh clone would trust it, alice checks it.
    const lying = await forgedCompaction(file, await identityOf(t.b), (lines) => lines.filter((l) => !(l.kind === 'state' && l.name === 'app/api')));
    writeFileSync(file, lying);
    pushOver('a lying compaction');
    await syncRefused(t.a, /checkpoint \S+ on the history it summarises: entry \S+ is refused: its state is not the state of the history it summarises/);
    git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    assert.equal(await t.a.ok(['get', 'app/api']), 'api-from-bob');
    await syncOk(t.a);

    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    writeFileSync(file, await forgedCompaction(file, await identityOf(t.c), (lines) => lines));
    pushOver("carol's compaction");
    await syncRefused(t.a, /only an admin can sign a checkpoint; carol is not one/);
    git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    await syncOk(t.b);
    assert.equal((await t.b.run(['verify'])).code, 0);
  });
});
