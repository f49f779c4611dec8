/**
 * `secrets compact` and `secrets migrate` end to end through the built binary: compaction keeps
 * every value readable and shrinks the file; migration keeps every value, label, tag, member and
 * policy, and every command works on the migrated vault; a checkpoint or a migration forged by a
 * non-admin is refused with exit 6, leaving the vault file and the trust state as they were.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planCompaction } from '../src/core/checkpoint.js';
import type { CheckpointEntry, Entry } from '../src/core/ops.js';
import { replay } from '../src/core/replay.js';
import { REPLAY_OPTIONS } from '../src/store/log-vault.js';
import { convert } from '../src/store/migrate.js';
import { CHECKPOINT_DIGESTS, encodeLine, type Line, signedEntry } from '../src/store/op-codec.js';
import { OpLog, replayInput, serializeLog } from '../src/store/op-log.js';
import { Format1Vault } from '../src/store/format1-vault.js';
import { TrustStore } from '../src/store/trust.js';
import { FORMAT_1, vaultIdIn } from './support/cli.js';
import { explain, type Person, person, policyFile } from './support/insider.js';

/** The bytes of the vault and of every trust file of `who`. */
function snapshot(vault: string, who: Person): string {
  const dir = join(who.sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust');
  const trust = existsSync(dir)
    ? readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .sort()
        .filter((f) => statSync(join(dir, f)).isFile())
        .map((f) => `${f}:${readFileSync(join(dir, f), 'utf8')}`)
    : [];
  return [readFileSync(vault, 'utf8'), ...trust].join('\n---\n');
}

/** Runs `args` as `who` and checks the refusal: exit `code`, the message, nothing changed. */
async function refused(vault: string, who: Person, args: readonly string[], pattern: RegExp, code = 6): Promise<void> {
  const before = snapshot(vault, who);
  const r = await who.run(args);
  assert.equal(r.code, code, explain(`${who.name}: secrets ${args.join(' ')}`, r));
  assert.match(r.stderr, pattern);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.equal(snapshot(vault, who), before, 'the vault file and the trust state are unchanged');
}

const DEV = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:PutSecretValue', 'secrets:DescribeSecret', 'secrets:ListSecrets'], Resource: 'dev/*' },
  ],
};

/** What a person sees of a vault, for comparing before and after a conversion. */
async function view(who: Person, names: readonly string[]): Promise<unknown> {
  const secrets = [];
  for (const name of names) {
    const versions = JSON.parse(await who.ok(['versions', name, '--json'])) as { Versions: { VersionId: string; VersionStages: string[] }[] };
    const described = JSON.parse(await who.ok(['describe', name, '--json'])) as Record<string, unknown>;
    const values = [];
    for (const v of versions.Versions) values.push([v.VersionId, v.VersionStages, await who.ok(['get', name, '--version-id', v.VersionId])]);
    secrets.push({ name, id: described['ARN'] ?? described['Id'], tags: described['Tags'], description: described['Description'], values });
  }
  // Exposure is compared for removed members, and without purged secrets (a checkpoint forgets
  // those); format 2 also lists what a current member's keys open, which format 1 does not.
  const members = (
    JSON.parse(await who.ok(['member', 'list', '--removed', '--json'])) as { Members: { Name: string; Status: string; Exposed?: string[] }[] }
  ).Members.map(({ Exposed, ...m }) => ({
    ...m,
    ...(m.Status === 'removed' ? { Exposed: (Exposed ?? []).filter((e) => !e.startsWith('(deleted secret')) } : {}),
  })).sort((x, y) => (x.Name < y.Name ? -1 : 1));
  // Format 2 does not date a policy change (its entry's time is in the log): not compared.
  const policies = (JSON.parse(await who.ok(['policy', 'list', '--json'])) as { Policies: Record<string, unknown>[] }).Policies.map(
    ({ LastChangedDate: _changed, ...p }) => p,
  );
  // Format 2 dates a secret's last change by its versions, deletion and rotation, not by a tag: not compared.
  const list = (JSON.parse(await who.ok(['list', '--json'])) as { SecretList: Record<string, unknown>[] }).SecretList.map(
    ({ LastChangedDate: _changed, ...rest }) => rest,
  );
  return { secrets, members, policies, list };
}

/** The last event of `who`'s audit log of the vault at `vault`: its name, outcome and target. */
function lastEvent(who: Person, vault: string): { eventName: string; outcome: string; target?: string } {
  const log = join(who.sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit', `${vaultIdIn(vault)}.jsonl`);
  const last = JSON.parse(readFileSync(log, 'utf8').trimEnd().split('\n').at(-1) as string) as { eventName: string; outcome: string; target?: string };
  return { eventName: last.eventName, outcome: last.outcome, ...(last.target !== undefined ? { target: last.target } : {}) };
}

describe('secrets migrate', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let former: Buffer;
  let justMigrated: Buffer;
  let seenBefore: unknown;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-migrate-'));
    vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault, undefined, FORMAT_1);
    bob = await person('bob', vault, undefined, FORMAT_1);
    carol = await person('carol', vault, undefined, FORMAT_1);
    await alice.ok(['init', '--format', '1']);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    await alice.ok(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim(), '--role', 'admin']);
    await alice.ok(['policy', 'put', 'dev', '-f', policyFile(dir, 'dev', DEV)]);
    await alice.ok(['policy', 'attach', 'dev', 'bob']);
    await alice.ok(['create', 'app/db', '--value-stdin', '--description', 'the production database'], { input: 'prod-1' });
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-2' });
    await alice.ok(['tag', 'app/db', 'team=prod', 'tier=1']);
    await alice.ok(['create', 'dev/db', '--value-stdin'], { input: 'dev-1' });
    await bob.ok(['put', 'dev/db', '--value-stdin'], { input: 'dev-2' });
    await alice.ok(['create', 'old/thing', '--value-stdin'], { input: 'old' });
    await alice.ok(['delete', 'old/thing', '--yes']);
    await alice.ok(['member', 'remove', 'carol', '--yes']);
    assert.equal(await bob.ok(['get', 'dev/db']), 'dev-2');
    seenBefore = await view(alice, ['app/db', 'dev/db']);
    former = readFileSync(vault);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses without --yes off a terminal (exit 2), and a non-admin (exit 5), leaving the file as it was', async () => {
    await refused(vault, alice, ['migrate'], /without confirmation/, 2);
    await refused(vault, bob, ['migrate', '--yes'], /only an admin of the format-1 vault can migrate it/, 5);
    await refused(vault, alice, ['migrate', '--bogus'], /unknown option/, 2);
    await refused(vault, alice, ['compact'], /format-1 vault/, 4);
    await refused(vault, alice, ['compact', '--bogus'], /unknown option/, 2);
  });

  it('keeps every value, label, tag, description, member and policy; the ciphertexts are unchanged', async () => {
    const out = JSON.parse(await alice.ok(['migrate', '--yes', '--json'])) as {
      Members: { Name: string }[];
      Secrets: number;
      BytesAfter: number;
      From: string;
    };
    assert.deepEqual(lastEvent(alice, vault), { eventName: 'MigrateVault', outcome: 'success', target: out.From });
    assert.deepEqual(out.Members.map((m) => m.Name).sort(), ['bob', 'carol', 'tester']);
    justMigrated = readFileSync(vault);
    const text = justMigrated.toString('utf8');
    assert.match(text, /^# secrets vault, format 2/);
    assert.equal(statSync(vault).mode & 0o777, 0o600);
    assert.equal(out.BytesAfter, Buffer.byteLength(text));
    // Every format-1 ciphertext is in the new file byte for byte, marked with format 1's AAD.
    for (const ct of former.toString('utf8').matchAll(/"ct":"([^"]+)"/g)) assert.ok(text.includes(`"ct":"${ct[1] as string}"`));
    assert.match(text, /"aad":1/);
    assert.deepEqual(await view(alice, ['app/db', 'dev/db']), seenBefore);
    assert.equal((await alice.run(['verify'])).code, 0);
  });

  it('every command works on the migrated vault', async () => {
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-3' });
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-3');
    assert.equal(await alice.ok(['get', 'app/db', '--version-stage', 'PREVIOUS']), 'prod-2');
    const env = await alice.ok(['exec', '--secret', 'app/db=DB', '--no-mask', '--', process.execPath, '-e', 'process.stdout.write(process.env.DB)']);
    assert.equal(env, 'prod-3');
    await alice.ok(['tag', 'app/db', 'team=platform']);
    await alice.ok(['untag', 'app/db', 'tier']);
    assert.deepEqual((JSON.parse(await alice.ok(['describe', 'app/db', '--json'])) as { Tags: unknown }).Tags, [{ Key: 'team', Value: 'platform' }]);
    await alice.ok(['restore', 'old/thing']);
    assert.equal(await alice.ok(['get', 'old/thing']), 'old');
    const dave = await person('dave', vault, undefined, FORMAT_1);
    await alice.ok(['member', 'add', 'dave', (await dave.ok(['identity', 'show'])).trim()]);
    await alice.ok(['policy', 'attach', 'dev', 'dave']);
    assert.equal(await dave.ok(['get', 'dev/db']), 'dev-2', 'a migrated version is re-sealed to a new member and opens with its format-1 AAD');
    assert.equal(JSON.parse(await alice.ok(['versions', 'app/db', '--json'])).Versions.length, 3);
    await alice.ok(['compact']);
    // dave's machine verified heads the compaction removed: outside git it refuses (connecting through git is sync's).
    await refused(vault, dave, ['get', 'dev/db'], /lost entry/);
    assert.equal(await alice.ok(['get', 'app/db', '--version-stage', 'PREVIOUS']), 'prod-2');
    assert.equal((await alice.run(['verify'])).code, 0);
  });

  it("another member's machine accepts the migration only with the format-1 file it converted, from an admin", async () => {
    const now = readFileSync(vault);
    writeFileSync(vault, justMigrated);
    // bob's trust state pins the format-1 genesis: the new file is another vault until he accepts it.
    await refused(vault, bob, ['get', 'dev/db'], /different genesis[^]*secrets migrate --accept/);
    const other = join(dir, 'other.yaml');
    writeFileSync(other, Buffer.concat([former, Buffer.from('# edited\n')]));
    await refused(vault, bob, ['migrate', '--accept', other], /not the one it converted/);
    writeFileSync(join(dir, 'former.yaml'), former);
    await refused(vault, bob, ['migrate', '--accept', join(dir, 'former.yaml'), '--yes'], /do not go together/, 2);
    await bob.ok(['migrate', '--accept', join(dir, 'former.yaml')]);
    assert.equal(lastEvent(bob, vault).eventName, 'AcceptMigration');
    assert.equal(await bob.ok(['get', 'dev/db']), 'dev-2');
    writeFileSync(vault, now);
  });
});

describe('forged checkpoints and migrations', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-forged-'));
    vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault, undefined, FORMAT_1);
    bob = await person('bob', vault, undefined, FORMAT_1);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a migration signed by a member who was not an admin is refused by every admin's machine", async () => {
    await alice.ok(['init', '--format', '1']);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    await alice.ok(['create', 'app/db', '--value-stdin'], { input: 'prod-1' });
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-1');
    await bob.run(['member', 'list']);
    await refused(vault, bob, ['migrate', '--yes'], /only an admin/, 5);
    // bob converts the file himself, as if he were an admin, and writes it over the vault.
    const former = readFileSync(vault);
    const repo = new Format1Vault({ path: vault, trust: new TrustStore(join(dir, 'scratch')), clock: { now: () => new Date() } });
    const { state } = await repo.inspect(former.toString('utf8'));
    const promoted = { ...state, members: state.members.map((m) => (m.id === bob.identity.id ? { ...m, roles: ['admin'] } : m)) };
    const forged = convert(promoted, former, bob.identity.id, (unsigned, _i, G) => signedEntry<Entry>(bob.identity, G, unsigned));
    writeFileSync(vault, serializeLog(forged.lines));
    await refused(vault, alice, ['get', 'app/db'], /different genesis/);
    writeFileSync(join(dir, 'former.yaml'), former);
    await refused(vault, alice, ['migrate', '--accept', join(dir, 'former.yaml')], /bob was not an admin of the format-1 vault/);
    writeFileSync(vault, former);
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-1');
  });

  it('a checkpoint signed by a non-admin is refused, compacted or appended, and `compact` refuses a non-admin', async () => {
    // Another vault at another path: this machine pinned the first test's vault at `vault`.
    vault = join(dir, 'checkpoint.yaml');
    alice = await person('alice', vault);
    bob = await person('bob', vault);
    await alice.ok(['init', '--format', '2']);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    await alice.ok(['policy', 'put', 'dev', '-f', policyFile(dir, 'dev', DEV)]);
    await alice.ok(['policy', 'attach', 'dev', 'bob']);
    await alice.ok(['create', 'app/db', '--value-stdin'], { input: 'prod-1' });
    await alice.ok(['put', 'app/db', '--value-stdin'], { input: 'prod-2' });
    const pristine = readFileSync(vault);
    await bob.run(['member', 'list']);
    await refused(vault, bob, ['compact'], /only an admin can compact/, 5);
    // bob plans the compaction himself and signs the checkpoint.
    const log = new OpLog({ path: vault, lockTimeoutMs: 1000 });
    const read = await log.read();
    const input = replayInput(read);
    const result = replay(input, REPLAY_OPTIONS);
    const plan = planCompaction(input, result, CHECKPOINT_DIGESTS, bob.identity.id, new Date().toISOString());
    const G = read.entries[0]?.hash as string;
    const checkpoint = signedEntry<CheckpointEntry>(bob.identity, G, plan.checkpoint);
    const compacted: Line[] = [
      ...plan.governance.map((g) => g.entry),
      ...plan.secrets.map((s) => ({ kind: 'state' as const, ...s })),
      ...plan.payloads.map((h) => input.payloads.get(h) as Line),
      checkpoint,
    ];
    writeFileSync(vault, serializeLog(compacted));
    await refused(vault, alice, ['get', 'app/db'], /only an admin can sign a checkpoint; bob is not one/);
    writeFileSync(vault, Buffer.concat([pristine, Buffer.from(`- ${encodeLine(checkpoint)}\n`)]));
    await refused(vault, alice, ['get', 'app/db'], /only an admin can sign a checkpoint; bob is not one/);
    writeFileSync(vault, pristine);
    assert.equal(await alice.ok(['get', 'app/db']), 'prod-2');
  });
});

describe('secrets compact', () => {
  it('joins several heads with a merge first, then compacts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-compact-heads-'));
    try {
      const vault = join(dir, 'vault.yaml');
      const alice = await person('alice', vault);
      await alice.ok(['init', '--format', '2']);
      await alice.ok(['create', 'app/a', '--value-stdin'], { input: 'one' });
      await alice.ok(['put', 'app/a', '--value-stdin'], { input: 'two' });
      // A second head: alice's own op on the entry before the last (another device of hers).
      const read = await new OpLog({ path: vault, lockTimeoutMs: 1000 }).read();
      const G = read.entries[0]?.hash as string;
      const create = read.entries[read.entries.length - 2];
      const last = read.entries[read.entries.length - 1];
      assert.ok(create !== undefined && last !== undefined && create.entry.kind === 'op' && create.entry.op === 'CreateSecret');
      const ref = { secret: (create.entry.body as { secret: string }).secret, name: 'app/a' };
      const side = signedEntry<Entry>(alice.identity, G, {
        kind: 'op',
        op: 'TagResource',
        body: { ...ref, tags: new Map([['side', 'yes']]) },
        by: alice.identity.id,
        seq: last.entry.seq + 1,
        parents: [create.hash],
        at: last.entry.at,
      });
      writeFileSync(vault, Buffer.concat([readFileSync(vault), Buffer.from(`- ${encodeLine(side)}\n`)]));
      assert.equal(await alice.ok(['get', 'app/a']), 'two');
      const heads = replay(replayInput(await new OpLog({ path: vault, lockTimeoutMs: 1000 }).read()), REPLAY_OPTIONS).heads;
      assert.equal(heads.length, 2);
      await alice.ok(['compact']);
      const text = readFileSync(vault, 'utf8');
      assert.match(text, /"kind":"checkpoint"/);
      assert.doesNotMatch(text, /"kind":"merge"/, 'the merge is compacted away with the data ops');
      assert.equal(await alice.ok(['get', 'app/a']), 'two');
      assert.deepEqual((JSON.parse(await alice.ok(['describe', 'app/a', '--json'])) as { Tags: unknown }).Tags, [{ Key: 'side', Value: 'yes' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps every value readable, shrinks the file, and later writes append after the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-compact-'));
    try {
      const vault = join(dir, 'vault.yaml');
      const alice = await person('alice', vault);
      const bob = await person('bob', vault);
      await alice.ok(['init', '--format', '2']);
      await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
      await alice.ok(['policy', 'put', 'dev', '-f', policyFile(dir, 'dev', DEV)]);
      await alice.ok(['policy', 'attach', 'dev', 'bob']);
      for (const name of ['app/a', 'dev/b']) {
        await alice.ok(['create', name, '--value-stdin'], { input: `${name}-0` });
        for (let i = 1; i < 4; i++) await alice.ok(['put', name, '--value-stdin'], { input: `${name}-${i}` });
        await alice.ok(['tag', name, `k=${name}`]);
      }
      await alice.ok(['create', 'gone/now', '--value-stdin'], { input: 'bye' });
      await alice.ok(['delete', 'gone/now', '--force', '--yes']);
      assert.equal(await bob.ok(['get', 'dev/b']), 'dev/b-3');
      const seen = await view(alice, ['app/a', 'dev/b']);
      const size = statSync(vault).size;
      const out = JSON.parse(await alice.ok(['compact', '--json'])) as {
        BytesBefore: number;
        BytesAfter: number;
        GovernanceKept: number;
        Secrets: number;
        Checkpoint: string;
      };
      assert.deepEqual(lastEvent(alice, vault), { eventName: 'CompactVault', outcome: 'success', target: out.Checkpoint });
      assert.equal(out.BytesBefore, size);
      assert.equal(out.BytesAfter, statSync(vault).size);
      assert.ok(out.BytesAfter < size, `compaction shrinks the file (${size} -> ${out.BytesAfter})`);
      assert.equal(out.GovernanceKept, 4, 'the genesis, AddMember, PutPolicy, AttachPolicy');
      assert.equal(out.Secrets, 2, 'a secret deleted without recovery is gone');
      assert.doesNotMatch(readFileSync(vault, 'utf8'), /"op":"(CreateSecret|PutSecretValue|TagResource)"/);
      assert.deepEqual(await view(alice, ['app/a', 'dev/b']), seen);
      assert.equal((await alice.run(['verify'])).code, 0);
      await alice.ok(['put', 'app/a', '--value-stdin'], { input: 'after' });
      assert.equal(await alice.ok(['get', 'app/a']), 'after');
      // bob's machine verified heads the compaction removed: outside git it refuses until he accepts the checkpoint.
      await refused(vault, bob, ['get', 'dev/b'], /lost entry/);
      await refused(vault, bob, ['verify', '--accept-checkpoint', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='], /holds no such checkpoint/);
      const checkpoint = (JSON.parse(await alice.ok(['compact', '--json'])) as { Checkpoint: string }).Checkpoint;
      await refused(vault, bob, ['get', 'dev/b'], /lost entry/);
      const accepted = JSON.parse(await bob.ok(['verify', '--accept-checkpoint', checkpoint, '--json'])) as { SignedBy: string };
      assert.equal(accepted.SignedBy, 'tester');
      assert.equal(await bob.ok(['get', 'dev/b']), 'dev/b-3');
      // An older compacted file does not cover what bob verified since: refused, as a rollback.
      const older = readFileSync(vault);
      await alice.ok(['put', 'dev/b', '--value-stdin'], { input: 'dev/b-4' });
      const newer = readFileSync(vault);
      assert.equal(await bob.ok(['get', 'dev/b']), 'dev/b-4');
      writeFileSync(vault, older);
      await refused(vault, bob, ['verify', '--accept-checkpoint', checkpoint], /does not cover entry/);
      writeFileSync(vault, newer);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
