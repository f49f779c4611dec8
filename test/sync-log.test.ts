/**
 * Git sync of a format-2 vault (the operation log), end to end through a real bare remote and
 * the built binary: concurrent appends merge into one history that every clone replays alike;
 * a removed member's concurrent write is dropped and reported; and the git half of the
 * acceptance suite: a remote truncated, forked from an old commit, or given an old op spliced
 * back, each refused by the other clone's `sync` with exit 6, naming the entry or the lost head,
 * and leaving its vault file, trust state and git HEAD as they were.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OpLog } from '../src/store/op-log.js';
import { FORMAT_1, sandbox } from './support/cli.js';
import { type Clone, clone, explain, git, GIT_PERSON, snapshot, syncOk, syncRefused as refusedSync, type Team, team, view } from './support/git-team.js';

/** The entries of a vault file: hashes in file order and the heads. */
async function entriesOf(vault: string): Promise<{ hashes: string[]; heads: string[]; lines: string[] }> {
  const read = await new OpLog({ path: vault, lockTimeoutMs: 5000 }).read();
  const named = new Set(read.entries.flatMap((e) => e.entry.parents));
  return {
    hashes: read.entries.map((e) => e.hash),
    heads: read.entries.map((e) => e.hash).filter((h) => !named.has(h)),
    lines: readFileSync(vault, 'utf8').split('\n'),
  };
}

const escape = (s: string): string => s.replace(/[+/=]/g, (c) => `\\${c}`);

/** `x`'s sync must be refused with exit 6 naming one of `names`, and leave everything of `x` as it was. */
function syncRefused(x: Clone, names: readonly string[]): Promise<string> {
  return refusedSync(x, new RegExp(names.map(escape).join('|')));
}

describe('git sync of a format-2 vault', () => {
  let root: string;
  let t: Team;
  /** A plain git clone of the remote, as someone with push access would use it. */
  let scratch: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-sync-log-'));
    mkdirSync(join(root, 't'));
    t = await team(join(root, 't'), ['--format', '2']);
    assert.match(readFileSync(t.a.vault, 'utf8'), /^# secrets vault, format 2\./);
    await t.a.ok(['create', 'common/db', '--value-stdin'], 'v0');
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
    scratch = join(root, 'scratch');
    git(root, ['clone', '-q', '-b', 'main', t.remote, scratch]);
  });
  after(() => {
    t.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  /** Puts alice's history back on the remote and brings everyone to it. */
  async function restore(): Promise<void> {
    git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    for (const x of [t.a, t.b, t.c]) await syncOk(x);
  }

  it('clones that appended concurrently merge into one history: the same state everywhere, and the same file once the last merge is fast-forwarded', async () => {
    await t.a.ok(['create', 'a/one', '--value-stdin'], 'a1');
    await t.a.ok(['put', 'common/db', '--value-stdin'], 'from-alice');
    await t.b.ok(['create', 'b/one', '--value-stdin'], 'b1');
    await t.b.ok(['tag', 'common/db', 'owner=bob']);
    await t.c.ok(['create', 'c/one', '--value-stdin'], 'c1');
    await t.c.ok(['put', 'common/db', '--value-stdin'], 'from-carol');
    await syncOk(t.b);
    const c = await syncOk(t.c);
    assert.match(c.stderr, /secrets: merged: joined two branches: 2 entries here, 2 from the other copy/, explain('carol merges', c));
    const a = await syncOk(t.a);
    assert.match(a.stderr, /secrets: merged: joined two branches/);
    assert.doesNotMatch(a.stderr + c.stderr, /from-alice|from-carol/, 'reports hold no value');
    assert.match(
      a.stderr,
      /secrets: merged: conflict: value, label CURRENT also set by concurrent .* on common\/db\)/,
      'concurrent puts of one secret are reported',
    );
    // Alice's merge was the last: bob and carol fast-forward to it.
    await syncOk(t.b);
    await syncOk(t.c);
    const files = [t.a, t.b, t.c].map((x) => readFileSync(x.vault, 'utf8'));
    assert.equal(files[1], files[0], "bob's file is alice's");
    assert.equal(files[2], files[0], "carol's file is alice's");
    assert.equal((files[0]?.match(/^- \{"kind":"merge",/gm) ?? []).length, 2, 'two merge entries, one per merge');
    const seen = await view(t.a);
    assert.equal(await view(t.b), seen);
    assert.equal(await view(t.c), seen);
    assert.match(seen, /^a\/one .*CURRENT=a1$/m);
    assert.match(seen, /^b\/one .*CURRENT=b1$/m);
    assert.match(seen, /^c\/one .*CURRENT=c1$/m);
    assert.match(seen, /^common\/db \[\{"Key":"owner","Value":"bob"\}\] /m);
    assert.match(seen, /^common\/db .*CURRENT=from-(alice|carol) PREVIOUS=from-(alice|carol)$/m, 'both puts kept: one CURRENT, the other PREVIOUS');
    for (const x of [t.a, t.b, t.c]) assert.equal((await x.run(['verify'])).code, 0, `${x.name}: verify`);
    const heads = await Promise.all([t.a, t.b, t.c].map(async (x) => (JSON.parse(await x.ok(['status', '--json'])) as { Heads: string[] }).Heads));
    assert.equal(heads[0]?.length, 1, 'one head after the last merge');
    assert.deepEqual(heads[1], heads[0], 'status shows the same head on every clone');
    assert.deepEqual(heads[2], heads[0]);
  });

  it('merging in the other order gives the same state (a plain git pull with the driver, then sync)', async () => {
    await t.a.ok(['create', 'order/a', '--value-stdin'], 'oa');
    await t.b.ok(['create', 'order/b', '--value-stdin'], 'ob');
    await t.b.ok(['put', 'common/db', '--value-stdin'], 'from-bob');
    await syncOk(t.a);
    // Bob merges with plain git: the driver is this program, given bob's environment.
    git(t.b.dir, ['add', 'vault.yaml']);
    git(t.b.dir, ['commit', '-q', '-m', 'local'], GIT_PERSON);
    const pull = spawnSync('git', ['pull', '--no-rebase', '--no-edit', 'origin', 'main'], {
      cwd: t.b.dir,
      encoding: 'utf8',
      env: { ...t.b.sb.env, ...t.b.env, ...GIT_PERSON },
    });
    assert.equal(pull.status, 0, `git pull: ${pull.stderr}`);
    assert.match(pull.stderr, /secrets: merged: joined two branches/);
    assert.equal((await t.b.run(['verify'])).code, 0);
    await syncOk(t.b);
    await syncOk(t.a);
    await syncOk(t.c);
    const seen = await view(t.b);
    assert.equal(await view(t.a), seen);
    assert.equal(await view(t.c), seen);
    assert.match(seen, /^order\/a .*CURRENT=oa$/m);
    assert.match(seen, /^order\/b .*CURRENT=ob$/m);
    const diff = git(t.a.dir, ['log', '-p', '-3', '--', 'vault.yaml']);
    assert.match(diff, /op CreateSecret secret order\/b/, 'textconv shows actions and secret names');
    assert.doesNotMatch(diff, /"ct":/, 'and no ciphertext');
  });

  it("a removed member's concurrent write is dropped and reported, with exit 0, and every clone agrees", async () => {
    await t.c.ok(['put', 'common/db', '--value-stdin'], 'carol-late');
    await syncOk(t.c);
    // Bob, who has not seen the removal either, seals a new value to carol.
    await t.b.ok(['put', 'common/db', '--value-stdin'], 'bob-before-removal');
    await syncOk(t.b);
    await t.a.ok(['member', 'remove', 'carol', '--yes']);
    const r = await syncOk(t.a);
    assert.match(r.stderr, /secrets: merged: dropped: .*carol.*removed.* \(PutSecretValue \S+ by carol on common\/db\)/, explain('alice merges', r));
    assert.match(
      r.stderr,
      /secrets: merged: exposure: version \S+ is sealed to \S+, removed concurrently by \S+: rotate it \(PutSecretValue \S+ by bob on common\/db\)/,
    );
    assert.doesNotMatch(r.stderr, /carol-late|bob-before-removal/, 'the report holds no value');
    assert.match(git(t.a.dir, ['log', '-p', '-3', '--', 'vault.yaml']), /op RemoveMember member \S+ by /, 'textconv names the member removed');
    assert.notEqual(await t.a.ok(['get', 'common/db']), 'carol-late');
    await syncOk(t.b);
    assert.notEqual(await t.b.ok(['get', 'common/db']), 'carol-late');
    assert.equal(await view(t.b), await view(t.a));
    // Carol can still fetch the history that removed her: a fast-forward needs no signature.
    await syncOk(t.c);
    assert.equal(readFileSync(t.c.vault, 'utf8'), readFileSync(t.a.vault, 'utf8'));
  });

  /** Cuts the remote's file after its last entry but one, and force-pushes it. */
  async function truncateRemote(): Promise<void> {
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    const file = join(scratch, 'vault.yaml');
    const lines = readFileSync(file, 'utf8').split('\n');
    const read = await new OpLog({ path: file, lockTimeoutMs: 5000 }).read();
    const lineNo = (read.entries.at(-2) as { place: { line: number } }).place.line;
    writeFileSync(file, `${lines.slice(0, lineNo).join('\n')}\n`);
    git(scratch, ['commit', '-q', '-am', 'truncate'], GIT_PERSON);
    git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
  }

  it('a remote truncated and force-pushed is refused by the clone that saw the lost entries', async () => {
    await t.a.ok(['create', 'trunc/x', '--value-stdin'], 'x');
    await syncOk(t.a);
    await syncOk(t.b);
    const seen = await entriesOf(t.b.vault);
    await truncateRemote();
    const err = await syncRefused(t.b, seen.heads);
    assert.match(err, /fork pushed over the history, a truncation or a rewritten past/);
    await restore();
  });

  it("a fresh clone's first sync holds the remote to the heads it had when cloned", async () => {
    const dave = sandbox();
    try {
      await dave.ok(['identity', 'show']);
      const d = clone('dave', dave, join(dave.home, 'v'));
      const r = await dave.run(['clone', t.remote, d.dir]);
      assert.equal(r.code, 0, explain('dave clone', r));
      const seen = await entriesOf(d.vault);
      await truncateRemote();
      await syncRefused(d, seen.heads);
    } finally {
      dave.cleanup();
      await restore();
    }
  });

  it('a fork from an old commit, appended to and force-pushed, is refused', async () => {
    const old = git(t.a.dir, ['rev-parse', 'HEAD']).trim();
    await t.a.ok(['create', 'fork/newer', '--value-stdin'], 'n');
    await syncOk(t.a);
    await syncOk(t.b);
    const seen = await entriesOf(t.b.vault);
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', old]);
    // Alice's own client appends to the old file, as it would on a machine that never saw the newer one.
    const fresh = join(root, 'fresh-state');
    const r = await t.a.sb.run(['put', 'common/db', '--value-stdin'], {
      env: { ...t.a.env, SECRETS_VAULT: join(scratch, 'vault.yaml'), XDG_STATE_HOME: fresh },
      input: 'forked',
    });
    assert.equal(r.code, 0, explain('append to the fork', r));
    git(scratch, ['commit', '-q', '-am', 'fork'], GIT_PERSON);
    git(scratch, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    const err = await syncRefused(t.b, seen.heads);
    assert.match(err, /fork pushed over the history/);
    assert.equal(await t.b.ok(['get', 'fork/newer']), 'n');
    await restore();
  });

  it('an old op spliced back from git history and pushed is refused, naming it', async () => {
    git(scratch, ['fetch', '-q', 'origin']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    const file = join(scratch, 'vault.yaml');
    const first = git(scratch, ['rev-list', '--max-parents=0', 'HEAD']).trim();
    const oldText = git(scratch, ['show', `${first}:vault.yaml`]);
    const old = oldText.split('\n').filter((l) => l.startsWith('- {"kind":"op"'));
    const spliced = old.at(-1) as string;
    const hashOf = (await entriesOf(file)).hashes;
    writeFileSync(file, `${readFileSync(file, 'utf8')}${spliced}\n`);
    git(scratch, ['commit', '-q', '-am', 'splice'], GIT_PERSON);
    git(scratch, ['push', '-q', 'origin', 'HEAD:main']);
    // The spliced line is one of the entries already in the history; its hash is what gets named.
    const err = await syncRefused(t.c, hashOf);
    assert.match(err, /occurs twice/);
    await restore();
  });
});

describe('a team moves from format 1 to format 2 through git', () => {
  let root: string;
  let t: Team;
  const isFormat2 = (x: Clone): boolean => readFileSync(x.vault, 'utf8').startsWith('# secrets vault, format 2.');

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-migrate-git-'));
    // Every member's machine can still write format 1: the team's earlier version, until it moves.
    t = await team(root, [], FORMAT_1);
    await t.a.ok(['create', 'app/one', '--value-stdin'], 'v1');
    await syncOk(t.a);
    for (const x of [t.b, t.c]) await syncOk(x);
  });
  after(() => {
    t?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it("alice migrates and syncs; bob's sync takes the migration, checked as `migrate --accept` checks it", async () => {
    await t.a.ok(['migrate', '--yes']);
    await syncOk(t.a);
    assert.match(git(t.a.dir, ['show', 'origin/main:vault.yaml']), /^# secrets vault, format 2\./, 'the migration is pushed');
    assert.ok(!isFormat2(t.b));
    const r = await syncOk(t.b);
    assert.match(r.stderr, /took the migration of vault \S+ to format 2/);
    assert.ok(isFormat2(t.b), "bob's copy is format 2");
    assert.equal(await t.b.ok(['get', 'app/one']), 'v1');
    await t.b.ok(['put', 'app/one', '--value-stdin'], 'v2');
    await syncOk(t.b);
    await syncOk(t.a);
    assert.equal(await t.a.ok(['get', 'app/one']), 'v2');
  });

  it('a format-1 write the migration does not hold is refused: exit 6, nothing merged or changed', async () => {
    // carol wrote with the earlier version and never pushed it.
    await t.c.ok(['put', 'app/one', '--value-stdin'], 'carol-v1');
    git(t.c.dir, ['commit', '-qam', 'carol, with the earlier version'], GIT_PERSON);
    const before = snapshot(t.c);
    const r = await t.c.run(['sync']);
    assert.equal(r.code, 6, explain('carol sync', r));
    assert.match(r.stderr, /the format-1 file is older than the copy this machine verified/);
    assert.ok(!isFormat2(t.c), 'her copy stays format 1');
    assert.equal(await t.c.ok(['get', 'app/one']), 'carol-v1');
    // The vault, the trust state and the sync state as they were (sync commits her audit trail first).
    const withoutHead = (x: string): string => x.replace(/^[0-9a-f]{40}\n?$/m, '');
    assert.equal(withoutHead(snapshot(t.c)), withoutHead(before));
  });
});

describe('a format-1 vault syncs by fast-forward only', () => {
  let root: string;
  let t: Team;
  const pull = (x: Clone): ReturnType<typeof spawnSync> =>
    spawnSync('git', ['pull', '--no-rebase', '--no-edit', 'origin', 'main'], { cwd: x.dir, encoding: 'utf8', env: { ...x.sb.env, ...x.env, ...GIT_PERSON } });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-sync-v1-'));
    // The team's format-1 vault, written as an earlier version wrote it (test/support/format1-writer.ts).
    t = await team(root, [], FORMAT_1);
    for (const x of [t.b, t.c]) await syncOk(x);
  });
  after(() => {
    t?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it("a clone that changed nothing takes the remote's copy, verified; a remote rolled back is refused (exit 6)", async () => {
    await t.a.ok(['create', 'v1/db', '--value-stdin'], 'one');
    await syncOk(t.a);
    await syncOk(t.b);
    assert.equal(await t.b.ok(['get', 'v1/db']), 'one');
    assert.equal(readFileSync(t.b.vault, 'utf8'), readFileSync(t.a.vault, 'utf8'), "bob's copy is alice's, byte for byte");
    await t.a.ok(['put', 'v1/db', '--value-stdin'], 'two');
    await syncOk(t.a);
    await syncOk(t.b);
    assert.equal(await t.b.ok(['get', 'v1/db']), 'two');
    // Someone with push access puts the older copy back.
    const older = git(t.a.dir, ['rev-list', '-n', '1', 'HEAD~1', '--', 'vault.yaml']).trim();
    git(t.a.dir, ['push', '-q', '--force', 'origin', `${older}:main`]);
    const rolledBack = /the remote's vault was rolled back: writer "alice"/;
    // The first sync publishes bob's audit trail (a commit of its own), then refuses.
    const first = await t.b.run(['sync']);
    assert.equal(first.code, 6, explain('bob sync', first));
    assert.match(first.stderr, rolledBack);
    await refusedSync(t.b, rolledBack, 6);
    assert.equal(await t.b.ok(['get', 'v1/db']), 'two');
    git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    await syncOk(t.b);
  });

  it('a member record forged by someone with push access but no membership is refused (exit 6), and nothing is merged', async () => {
    await syncOk(t.a);
    await syncOk(t.c);
    const mallory = sandbox(FORMAT_1);
    try {
      const dir = join(mallory.home, 'm');
      git(mallory.home, ['clone', '-q', t.remote, dir]);
      await mallory.ok(['--vault', join(mallory.home, 'own.yaml'), 'init', '--member-name', 'mallory']);
      const own = readFileSync(join(mallory.home, 'own.yaml'), 'utf8').split('\n');
      const shared = readFileSync(join(dir, 'vault.yaml'), 'utf8').split('\n');
      // Her own (validly self-signed) member record, spliced in after the others.
      const memberLine = own.find((l) => l.startsWith('- {"kind":"member"')) as string;
      shared.splice(
        shared.findIndex((l) => l.startsWith('- {"kind":"policy"') || l.startsWith('- {"kind":"head"')),
        0,
        memberLine,
      );
      writeFileSync(join(dir, 'vault.yaml'), shared.join('\n'));
      git(dir, ['commit', '-q', '-am', 'innocent'], GIT_PERSON);
      git(dir, ['push', '-q', 'origin', 'HEAD:main']);
      const before = readFileSync(t.c.vault, 'utf8');
      const r = await t.c.run(['sync']);
      assert.equal(r.code, 6, explain('sync of a forged remote', r));
      assert.match(r.stderr, /secrets: error: .*(not added by an admin|digest mismatch|invalid signature)/);
      assert.equal(readFileSync(t.c.vault, 'utf8'), before, "carol's vault is unchanged");
      git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
    } finally {
      mallory.cleanup();
    }
  });

  it('two copies that both changed are refused (exit 4), by sync and by the merge driver: nothing merged, vault, trust and HEAD unchanged', async () => {
    await t.a.ok(['put', 'v1/db', '--value-stdin'], 'from-alice');
    await syncOk(t.a);
    // Bob writes with the earlier version too and commits it.
    await t.b.ok(['put', 'v1/db', '--value-stdin'], 'from-bob');
    git(t.b.dir, ['commit', '-qam', 'bob, with the earlier version'], GIT_PERSON);
    const vault = readFileSync(t.b.vault);
    const diverged = /both changed since they last met .*this version does not merge format 1, so nothing was merged/;
    // The first sync publishes bob's audit trail (a commit of its own), then refuses.
    const first = await t.b.run(['sync']);
    assert.equal(first.code, 4, explain('bob sync', first));
    assert.match(first.stderr, diverged);
    assert.match(first.stderr, /secrets migrate/);
    assert.ok(readFileSync(t.b.vault).equals(vault), "bob's vault file is unchanged");
    await refusedSync(t.b, diverged, 4);
    assert.equal(spawnSync('git', ['merge-base', '--is-ancestor', 'origin/main', 'HEAD'], { cwd: t.b.dir }).status, 1, "alice's commits are not merged");
    assert.equal(await t.b.ok(['get', 'v1/db']), 'from-bob');
    // A plain git pull runs the driver, which refuses too: git reports a conflict.
    const r = pull(t.b);
    assert.notEqual(r.status, 0);
    assert.match(String(r.stderr) + String(r.stdout), /CONFLICT|conflict/);
    assert.match(String(r.stderr), diverged);
    git(t.b.dir, ['merge', '--abort']);
    assert.ok(readFileSync(t.b.vault).equals(vault));
    assert.equal(await t.b.ok(['get', 'v1/db']), 'from-bob');
  });
});
