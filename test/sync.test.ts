/**
 * Git sync end to end (docs/sync.md; forged records, rollbacks, merges): a real bare repository on
 * disk and three clones, each with its own HOME, identity file and trust state, driven through the
 * built binary and the real `git`, on format 2 (the operation log), or on a vault migrated from
 * format 1 (TEST_VAULT_FORMAT=migrated). Format 2's own sync tests are in sync-log.test.ts, and so
 * are format 1's: this version only fast-forwards a format-1 vault, so these merges do not apply
 * to it, and TEST_VAULT_FORMAT=1 skips this suite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { marker, sandbox, VAULT_FORMAT } from './support/cli.js';
import { type Clone, explain, git, syncOk, team as gitTeam, type Team, view } from './support/git-team.js';

/** The team of support/git-team.ts, in the format this run tests (TEST_VAULT_FORMAT). */
const team = (root: string): Promise<Team> => gitTeam(root, VAULT_FORMAT === '2' ? ['--format', '2'] : []);

describe('git sync', { skip: VAULT_FORMAT === '1' && 'format 1 is only fast-forwarded (sync-log.test.ts)' }, () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'secrets-sync-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('clone verifies, pins and prints the vault id and the admins', async () => {
    mkdirSync(join(root, 't0'));
    const t = await team(join(root, 't0'));
    try {
      const d = mkdtempSync(join(tmpdir(), 'secrets-clone-'));
      const r = await t.b.sb.run(['clone', t.remote, join(d, 'v'), '--json'], { env: t.b.env });
      assert.equal(r.code, 0, explain('clone', r));
      const out = JSON.parse(r.stdout) as { VaultId: string; Admins: { Name: string; Fingerprint: string }[]; Records: number };
      assert.match(out.VaultId, /^[0-9a-f-]{36}$/);
      assert.deepEqual(out.Admins.map((x) => x.Name).sort(), ['alice', 'bob']);
      for (const x of out.Admins) assert.match(x.Fingerprint, /^([0-9a-f]{4} ){3}[0-9a-f]{4}$/);
      const text = await t.b.sb.run(['clone', t.remote, join(d, 'w')], { env: t.b.env });
      assert.match(text.stderr, /all \d+ records verified/);
      assert.match(text.stderr, /compare these fingerprints/);
      const again = await t.b.sb.run(['clone', t.remote, join(d, 'w')], { env: t.b.env });
      assert.equal(again.code, 4, explain('clone into an existing dir', again));
      rmSync(d, { recursive: true, force: true });
    } finally {
      t.cleanup();
    }
  });

  describe('three clones', () => {
    let t: Awaited<ReturnType<typeof team>>;
    const m = marker();
    before(async () => {
      const dir = join(root, 't1');
      mkdirSync(dir);
      t = await team(dir);
      await t.a.ok(['create', 'common/delete-me', '--value-stdin'], 'doomed');
      await t.a.ok(['create', 'common/tag-me', '--value-stdin'], 'tagged');
      await t.a.ok(['create', 'common/marker', '--value-stdin'], m.value);
      await syncOk(t.a);
      await syncOk(t.b);
      await syncOk(t.c);
    });
    after(() => t.cleanup());

    it('concurrent creates, puts, tags and deletes of different secrets converge to identical files, in any order', async () => {
      await t.a.ok(['create', 'a/one', '--value-stdin'], 'a1');
      await t.a.ok(['put', 'common/marker', '--value-stdin'], `${m.value}-2`);
      await t.b.ok(['create', 'b/one', '--value-stdin'], 'b1');
      await t.b.ok(['tag', 'common/tag-me', 'owner=bob']);
      await t.c.ok(['create', 'c/one', '--value-stdin'], 'c1');
      await t.c.ok(['delete', 'common/delete-me', '--force', '--yes']);
      for (const x of [t.b, t.c, t.a, t.b, t.c]) await syncOk(x);
      const files = [t.a, t.b, t.c].map((x) => readFileSync(x.vault, 'utf8'));
      assert.equal(files[1], files[0], "bob's vault file is alice's");
      assert.equal(files[2], files[0], "carol's vault file is alice's");
      const seen = await view(t.a);
      assert.equal(await view(t.b), seen);
      assert.equal(await view(t.c), seen);
      assert.match(seen, /^a\/one .*CURRENT=a1$/m);
      assert.match(seen, /^b\/one .*CURRENT=b1$/m);
      assert.match(seen, /^c\/one .*CURRENT=c1$/m);
      assert.match(seen, /^common\/tag-me \[\{"Key":"owner","Value":"bob"\}\]/m);
      assert.doesNotMatch(seen, /common\/delete-me/);

      // Another round in another order.
      await t.c.ok(['create', 'c/two', '--value-stdin'], 'c2');
      await t.a.ok(['untag', 'common/tag-me', 'owner']);
      await t.b.ok(['put', 'b/one', '--value-stdin'], 'b2');
      for (const x of [t.c, t.a, t.b, t.c, t.a]) await syncOk(x);
      const again = [t.a, t.b, t.c].map((x) => readFileSync(x.vault, 'utf8'));
      assert.equal(again[1], again[0]);
      assert.equal(again[2], again[0]);
      const v = await view(t.c);
      assert.match(v, /^b\/one .*CURRENT=b2 PREVIOUS=b1$/m);
      assert.match(v, /^c\/two .*CURRENT=c2$/m);
      assert.match(v, /^common\/tag-me \[\] /m);
      for (const x of [t.a, t.b, t.c]) assert.equal((await x.run(['verify'])).code, 0, `${x.name}: verify`);
    });

    it('the same secret changed in two clones converges to the newer write, whoever merges, and the conflict is reported', async () => {
      for (const order of [
        ['a', 'b'],
        ['b', 'a'],
      ] as const) {
        const name = `both/${order.join('')}`;
        await t.a.ok(['create', name, '--value-stdin'], 'v0');
        await syncOk(t.a);
        await syncOk(t.b);
        await t.a.ok(['put', name, '--value-stdin'], 'from-alice');
        await t.a.ok(['tag', name, 'who=alice']);
        await new Promise((r) => setTimeout(r, 20));
        await t.b.ok(['put', name, '--value-stdin'], 'from-bob');
        await t.b.ok(['tag', name, 'who=bob']);
        const [first, second] = order.map((k) => t[k]);
        await syncOk(first as Clone);
        const merged = await syncOk(second as Clone);
        // Format 2 orders concurrent writes by hash, never by time: the report names the winner.
        assert.match(
          merged.stderr,
          new RegExp(`secrets: merged: conflict: value, label CURRENT also set by concurrent .* on ${name}\\)`),
          explain('merge report', merged),
        );
        assert.match(merged.stderr, new RegExp(`secrets: merged: conflict: tag who also set by concurrent .* on ${name}\\)`));
        await syncOk(first as Clone);
        const seen: string[] = [];
        for (const x of [t.a, t.b]) {
          const current = await x.ok(['get', name]);
          const previous = await x.ok(['get', name, '--version-stage', 'PREVIOUS']);
          const d = JSON.parse(await x.ok(['describe', name, '--json'])) as { Tags: { Key: string; Value: string }[] };
          assert.deepEqual([current, previous].sort(), ['from-alice', 'from-bob'], `${x.name}: one put is CURRENT, the other PREVIOUS`);
          seen.push(JSON.stringify([current, previous, d.Tags]));
        }
        assert.equal(seen[1], seen[0], 'whoever merged, both clones agree');
      }
    });

    it('a plain git pull with the merge driver gives the same result as secrets sync; git diff shows names, never values', async () => {
      await t.a.ok(['create', 'pull/x', '--value-stdin'], 'x0');
      await syncOk(t.a);
      await syncOk(t.b);
      await t.a.ok(['put', 'pull/x', '--value-stdin'], 'x-alice');
      await t.a.ok(['create', 'pull/only-a', '--value-stdin'], 'oa');
      await syncOk(t.a);
      await new Promise((r) => setTimeout(r, 20));
      await t.b.ok(['put', 'pull/x', '--value-stdin'], 'x-bob');
      await t.b.ok(['create', 'pull/only-b', '--value-stdin'], 'ob');
      git(t.b.dir, ['add', 'vault.yaml']);
      git(t.b.dir, ['commit', '-q', '-m', 'local'], { GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' });
      // Plain git, as a user would type it; the driver is this program, given bob's environment.
      const pull = spawnSync('git', ['pull', '--no-rebase', '--no-edit', 'origin', 'main'], {
        cwd: t.b.dir,
        encoding: 'utf8',
        env: { ...t.b.sb.env, ...t.b.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' },
      });
      assert.equal(pull.status, 0, `git pull: ${pull.stderr}`);
      assert.equal((await t.b.run(['verify'])).code, 0);
      assert.match(pull.stderr, /secrets: merged: conflict: value, label CURRENT also set by concurrent .* on pull\/x\)/);
      const both = [await t.b.ok(['get', 'pull/x']), await t.b.ok(['get', 'pull/x', '--version-stage', 'PREVIOUS'])];
      assert.deepEqual(both.sort(), ['x-alice', 'x-bob']);
      assert.equal(await t.b.ok(['get', 'pull/only-a']), 'oa');
      assert.equal(await t.b.ok(['get', 'pull/only-b']), 'ob');
      await syncOk(t.b);
      await syncOk(t.a);
      assert.equal(await view(t.a), await view(t.b));

      const diff = git(t.a.dir, ['log', '-p', '-3', '--', 'vault.yaml']);
      assert.match(diff, /secret pull\/x/, 'textconv shows secret names');
      assert.doesNotMatch(diff, /"ct":/, 'and no ciphertext');
    });

    it('without the driver, a textual conflict is resolved by secrets sync: during its own merge, or left by a plain git pull', async () => {
      // .git/info/attributes outranks .gitattributes: this clone merges vault.yaml as text.
      writeFileSync(join(t.c.dir, '.git', 'info', 'attributes'), 'vault.yaml merge=text\n');
      try {
        await t.a.ok(['create', 'text/a', '--value-stdin'], 'ta');
        await syncOk(t.a);
        await t.c.ok(['create', 'text/c', '--value-stdin'], 'tc');
        await syncOk(t.c);
        assert.equal(await t.c.ok(['get', 'text/a']), 'ta');
        assert.equal((await t.c.run(['verify'])).code, 0);

        await t.a.ok(['create', 'text/a2', '--value-stdin'], 'ta2');
        await syncOk(t.a);
        await t.c.ok(['create', 'text/c2', '--value-stdin'], 'tc2');
        git(t.c.dir, ['add', 'vault.yaml']);
        git(t.c.dir, ['commit', '-q', '-m', 'local'], { GIT_AUTHOR_NAME: 'c', GIT_AUTHOR_EMAIL: 'c@x', GIT_COMMITTER_NAME: 'c', GIT_COMMITTER_EMAIL: 'c@x' });
        const pull = spawnSync('git', ['pull', '--no-rebase', '--no-edit', 'origin', 'main'], { cwd: t.c.dir, encoding: 'utf8' });
        assert.notEqual(pull.status, 0, 'a textual merge of the vault conflicts');
        assert.match(readFileSync(t.c.vault, 'utf8'), /^<<<<<<< /m, 'conflict markers are in the file');
        await syncOk(t.c);
        assert.doesNotMatch(readFileSync(t.c.vault, 'utf8'), /^<<<<<<< /m);
        assert.equal(await t.c.ok(['get', 'text/a2']), 'ta2');
        assert.equal(await t.c.ok(['get', 'text/c2']), 'tc2');
        await syncOk(t.a);
        assert.equal(await t.a.ok(['get', 'text/c2']), 'tc2');
      } finally {
        rmSync(join(t.c.dir, '.git', 'info', 'attributes'));
      }
    });

    it('a force-pushed older vault is refused as a rollback by a clone that had seen newer records', async () => {
      await syncOk(t.a);
      await syncOk(t.b);
      const old = git(t.a.dir, ['rev-parse', 'HEAD']).trim();
      await t.a.ok(['create', 'rb/newer', '--value-stdin'], 'n');
      await syncOk(t.a);
      await syncOk(t.b);
      git(t.a.dir, ['push', '-q', '--force', 'origin', `${old}:main`]);
      const before = readFileSync(t.b.vault, 'utf8');
      const r = await t.b.run(['sync']);
      assert.equal(r.code, 6, explain('sync after a force-push', r));
      assert.match(r.stderr, /does not hold entry \S+, which the remote had when this machine last saw it/);
      assert.equal(readFileSync(t.b.vault, 'utf8'), before, "bob's vault is unchanged");
      assert.equal(await t.b.ok(['get', 'rb/newer']), 'n');
      // Put the newer history back for the tests after this one.
      git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
      await syncOk(t.b);
    });

    it('a record forged by someone with push access but no membership is refused, and nothing is merged', async () => {
      await syncOk(t.a);
      await syncOk(t.c);
      const mallory = sandbox();
      try {
        const dir = join(mallory.home, 'm');
        git(mallory.home, ['clone', '-q', t.remote, dir]);
        await mallory.ok(['--vault', join(mallory.home, 'own.yaml'), 'init', '--member-name', 'mallory', '--format', '2']);
        const own = readFileSync(join(mallory.home, 'own.yaml'), 'utf8').split('\n');
        const shared = readFileSync(join(dir, 'vault.yaml'), 'utf8').split('\n');
        // Her own (validly self-signed) genesis, which makes her its creator, appended.
        shared.splice(shared.length - 1, 0, own.find((l) => l.includes('"op":"CreateVault"')) as string);
        writeFileSync(join(dir, 'vault.yaml'), shared.join('\n'));
        git(dir, ['commit', '-q', '-am', 'innocent'], { GIT_AUTHOR_NAME: 'm', GIT_AUTHOR_EMAIL: 'm@x', GIT_COMMITTER_NAME: 'm', GIT_COMMITTER_EMAIL: 'm@x' });
        git(dir, ['push', '-q', 'origin', 'HEAD:main']);
        const before = readFileSync(t.c.vault, 'utf8');
        const r = await t.c.run(['sync']);
        assert.equal(r.code, 6, explain('sync of a forged remote', r));
        assert.match(r.stderr, /secrets: error: .*(not added by an admin|digest mismatch|invalid signature|entry \S+ is refused: a second genesis)/);
        assert.equal(readFileSync(t.c.vault, 'utf8'), before, "carol's vault is unchanged");
        git(t.a.dir, ['push', '-q', '--force', 'origin', 'HEAD:main']);
      } finally {
        mallory.cleanup();
      }
    });

    it("git's hooks and helpers inherit neither our identity key nor where it is", async () => {
      const seen = join(t.b.dir, '..', 'hook-env');
      const hook = join(t.b.dir, '.git', 'hooks', 'pre-commit');
      writeFileSync(hook, `#!/bin/sh\nenv > '${seen}'\n`);
      chmodSync(hook, 0o755);
      try {
        await t.b.ok(['create', 'b/hooked', '--value-stdin'], 'h');
        await syncOk(t.b);
        const env = readFileSync(seen, 'utf8');
        assert.match(env, /^SECRETS_VAULT=/m, 'the hook ran with our environment');
        assert.doesNotMatch(env, /^SECRETS_IDENTITY_/m);
      } finally {
        rmSync(hook, { force: true });
      }
    });

    it('status shows the remote, the last sync, and commits ahead and behind', async () => {
      await syncOk(t.a);
      await syncOk(t.b);
      await t.a.ok(['create', 'st/1', '--value-stdin'], 's');
      await syncOk(t.a);
      await t.b.ok(['create', 'st/2', '--value-stdin'], 's');
      const s = JSON.parse(await t.b.ok(['status', '--fetch', '--json'])) as Record<string, unknown>;
      assert.equal(s['Git'], true);
      assert.equal(s['Remote'], t.remote);
      assert.equal(s['UncommittedChanges'], true);
      assert.equal(s['Behind'], 1);
      assert.equal(s['Ahead'], 0);
      assert.ok(typeof s['LastSync'] === 'string');
      assert.deepEqual((s['Members'] as { Name: string }[]).map((x) => x.Name).sort(), ['alice', 'bob', 'carol']);
      await syncOk(t.b);
      const after = JSON.parse(await t.b.ok(['status', '--json'])) as Record<string, unknown>;
      assert.equal(after['UncommittedChanges'], false);
      assert.equal(after['Ahead'], 0);
      assert.equal(after['Behind'], 0);
    });

    it('works offline: commits locally, says so, and pushes on the next sync', async () => {
      const moved = `${t.remote}.away`;
      renameSync(t.remote, moved);
      try {
        await t.a.ok(['create', 'off/1', '--value-stdin'], 'o');
        const r = await t.a.run(['sync']);
        assert.equal(r.code, 0, explain('offline sync', r));
        assert.match(r.stderr, /remote is unreachable/);
        assert.match(r.stderr, /not pushed/);
        assert.match(git(t.a.dir, ['log', '-1', '--format=%s']), /^secrets: /);
      } finally {
        renameSync(moved, t.remote);
      }
      const r = await syncOk(t.a);
      assert.match(r.stderr, /local changes pushed|Synced/);
      await syncOk(t.b);
      assert.equal(await t.b.ok(['get', 'off/1']), 'o');
    });

    it("the team audit trail rides along: each member's events are published by sync and verified by the others", async () => {
      await syncOk(t.a);
      await syncOk(t.b);
      await syncOk(t.c);
      await syncOk(t.a);
      await syncOk(t.b);
      const r = await t.c.run(['audit', 'verify', '--all-members']);
      assert.equal(r.code, 0, explain('audit verify --all-members', r));
      for (const who of ['alice', 'bob', 'carol']) assert.match(r.stderr, new RegExp(`${who}: \\d+ events, chain and signatures intact`));
      const events = JSON.parse(await t.c.ok(['audit', '--all-members', '--json', '--limit', '10000'])) as {
        principal: { name?: string };
        eventName: string;
      }[];
      const byWho = new Set(events.map((e) => e.principal.name));
      for (const who of ['alice', 'bob', 'carol']) assert.ok(byWho.has(who), `events of ${who} are in the team trail`);
      assert.ok(events.some((e) => e.principal.name === 'bob' && e.eventName === 'PutSecretValue'));
    });

    it('git history holds no secret value in any encoding, and commit messages name no secret', async () => {
      for (const x of [t.a, t.b, t.c]) {
        const raw = git(x.dir, ['log', '-p', '--all', '--no-textconv']);
        const conv = git(x.dir, ['log', '-p', '--all']);
        for (const enc of m.encodings) {
          assert.ok(!raw.includes(enc), `${x.name}: no value in git log -p`);
          assert.ok(!conv.includes(enc), `${x.name}: nor through the diff driver`);
        }
        const subjects = git(x.dir, ['log', '--all', '--format=%s']);
        for (const name of ['common/marker', 'a/one', 'b/one', 'c/one', 'pull/x'])
          assert.ok(!subjects.includes(name), `${x.name}: no secret name in commit messages`);
      }
    });
  });
});
