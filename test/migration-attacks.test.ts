/**
 * Attacks on the migration from format 1 to format 2 as `secrets sync` carries it
 * (`acrossMigration` in src/sync/sync.ts, `acceptMigratedCopy` in src/store/migrate.ts), by a
 * member or ex-member with push access and their own key, through the built binary and real git:
 *
 * - a removed admin takes a format-1 file from before his removal, signs a new head over it that
 *   claims counters above everything the others have seen (a format-1 head's `ctrs` are only
 *   its signer's word), migrates it as its admin and plants it on a branch: a member's sync must
 *   not take it (it would bring him back as the creator and roll back every later write);
 * - a member plants a format-1 vault of his own (another vault id, he its admin) on a branch and
 *   pushes its migration to main: a member's sync must refuse it before anything reaches the
 *   work tree, the trust state or HEAD.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Identity } from '../src/core/ports.js';
import { decodeKey, identityFromSeed } from '../src/crypto/identity.js';
import { FORMAT_1, sandbox } from './support/cli.js';
import { type Clone, explain, git, GIT_PERSON, snapshot, syncOk, type Team, team } from './support/git-team.js';
import { forge, readRecords } from './support/insider.js';
import { canonicalJson } from '../src/store/codec.js';

async function identityFromKeyFile(path: string): Promise<Identity> {
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  return identityFromSeed(decodeKey(line as string, path));
}

const isFormat2 = (x: Clone): boolean => readFileSync(x.vault, 'utf8').startsWith('# secrets vault, format 2.');

/** `secrets migrate --yes` of the format-1 file at `path` as the holder of `keyFile`, on a machine that never saw it. */
async function migrateElsewhere(path: string, keyFile: string, file?: Buffer): Promise<Buffer> {
  if (file !== undefined) writeFileSync(path, file);
  const sb = sandbox();
  try {
    const r = await sb.run(['migrate', '--yes'], { env: { SECRETS_VAULT: path, SECRETS_IDENTITY_FILE: keyFile } });
    assert.equal(r.code, 0, explain('the attacker migrates his file', r));
    return readFileSync(path);
  } finally {
    sb.cleanup();
  }
}

/**
 * Publishes as someone with push access: `planted` (a format-1 file) on the branch `branch`, and
 * `migrated` as main's vault.yaml on top of main.
 */
function publish(root: string, remote: string, branch: string, planted: Buffer, migrated: Buffer): void {
  const scratch = mkdtempSync(join(root, 'push-'));
  git(root, ['clone', '-q', '-b', 'main', remote, scratch]);
  git(scratch, ['checkout', '-q', '-b', branch]);
  writeFileSync(join(scratch, 'vault.yaml'), planted);
  git(scratch, ['commit', '-qam', 'old copy'], GIT_PERSON);
  git(scratch, ['push', '-q', 'origin', branch]);
  git(scratch, ['checkout', '-q', 'main']);
  writeFileSync(join(scratch, 'vault.yaml'), migrated);
  git(scratch, ['commit', '-qam', 'migrated'], GIT_PERSON);
  git(scratch, ['push', '-q', 'origin', 'main']);
}

/** `x`'s sync is refused with exit 6 and leaves its vault file and trust state as they were (sync may commit its audit trail first). */
async function syncRefused(x: Clone, pattern: RegExp): Promise<void> {
  const withoutHead = (s: string): string => s.replace(/^[0-9a-f]{40}\n?$/m, '');
  const before = withoutHead(snapshot(x));
  const r = await x.run(['sync']);
  assert.equal(r.code, 6, explain(`${x.name} sync`, r));
  assert.match(r.stderr, pattern);
  assert.ok(!isFormat2(x), 'the copy stays format 1');
  assert.equal(withoutHead(snapshot(x)), before, 'the vault file and the trust state are unchanged');
  assert.equal(git(x.dir, ['status', '--porcelain', '--', 'vault.yaml']), '', 'no merge left behind');
}

describe('migration attacks through git', () => {
  let root: string;
  let t: Team;
  let bobKey: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'secrets-migration-attacks-'));
    t = await team(root, [], FORMAT_1);
    bobKey = t.b.env['SECRETS_IDENTITY_FILE'] as string;
    await t.a.ok(['create', 'app/one', '--value-stdin'], 'v1');
    await syncOk(t.a);
    for (const x of [t.b, t.c]) await syncOk(x);
  });
  after(() => {
    t?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('a removed admin migrates a pre-removal format-1 file with inflated counters: refused, nothing merged', async () => {
    // Bob's copy from when he was an admin.
    const old = readFileSync(t.b.vault);
    await t.a.ok(['member', 'remove', 'bob', '--yes']);
    await t.a.ok(['put', 'app/one', '--value-stdin'], 'v2');
    await syncOk(t.a);
    await syncOk(t.c);
    assert.equal(await t.c.ok(['get', 'app/one']), 'v2');

    // Bob signs a new head over his old copy, claiming counters far above anyone's.
    const bob = await identityFromKeyFile(bobKey);
    const forged = join(root, 'forged.yaml');
    writeFileSync(forged, old);
    const { header, recs } = readRecords(forged);
    const head = recs.find((r) => r.kind === 'head') as Record<string, unknown>;
    head['ctrs'] = Object.fromEntries(Object.keys(head['ctrs'] as Record<string, number>).map((k) => [k, 1000]));
    writeFileSync(forged, `${header}\n${recs.map((r) => `- ${canonicalJson(r as Parameters<typeof canonicalJson>[0])}\n`).join('')}`);
    await forge(forged, bob, (r) => r);
    const planted = readFileSync(forged);
    const migrated = await migrateElsewhere(join(root, 'to-migrate.yaml'), bobKey, planted);
    publish(root, t.remote, 'old', planted, migrated);

    await syncRefused(t.c, /whom this machine saw removed, is not removed/);
    assert.equal(await t.c.ok(['get', 'app/one']), 'v2');

    // Without sync: a plain pull (here: a reset to it, her audit commit aside) takes the migration, and `migrate --accept` is given
    // the planted file (the file in the commit before the migration, as docs/sync.md suggests).
    git(t.c.dir, ['reset', '-q', '--hard', 'origin/main']);
    assert.ok(isFormat2(t.c));
    const trust = snapshot(t.c);
    const r = await t.c.run(['migrate', '--accept', forged]);
    assert.equal(r.code, 6, explain('carol migrate --accept', r));
    assert.match(r.stderr, /whom this machine saw removed, is not removed/);
    assert.equal(snapshot(t.c), trust, 'the trust state is unchanged');
  });

  it('a member plants a format-1 vault of his own on a branch and pushes its migration to main: refused, nothing merged', async () => {
    // A fresh team: the test above left its remote with a migration on main.
    const sub = mkdtempSync(join(root, 'other-'));
    const u = await team(sub, [], FORMAT_1);
    try {
      await u.a.ok(['create', 'app/one', '--value-stdin'], 'v1');
      for (const x of [u.a, u.b, u.c]) await syncOk(x);
      // Carol (a member, no admin) makes a vault of her own, with bob in it, and migrates it.
      const carolKey = u.c.env['SECRETS_IDENTITY_FILE'] as string;
      const own = join(sub, 'own.yaml');
      const sb = sandbox(FORMAT_1);
      try {
        const env = { SECRETS_VAULT: own, SECRETS_IDENTITY_FILE: carolKey };
        const r = await sb.run(['init', '--member-name', 'carol'], { env });
        assert.equal(r.code, 0, explain('carol init', r));
        const bobPub = (await u.b.ok(['identity', 'show'])).trim();
        const add = await sb.run(['member', 'add', 'bob', bobPub, '--role', 'admin'], { env });
        assert.equal(add.code, 0, explain('carol adds bob', add));
        const put = await sb.run(['create', 'app/one', '--value-stdin'], { env, input: 'carol-owns-this' });
        assert.equal(put.code, 0, explain('carol create', put));
      } finally {
        sb.cleanup();
      }
      const planted = readFileSync(own);
      const migrated = await migrateElsewhere(own, carolKey);
      publish(sub, u.remote, 'elsewhere', planted, migrated);

      await syncRefused(u.b, /the format-1 file is vault \S+, not the vault this machine uses/);
      assert.equal(await u.b.ok(['get', 'app/one']), 'v1');
    } finally {
      u.cleanup();
    }
  });
});
