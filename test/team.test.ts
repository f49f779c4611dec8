// Members and policies, end to end: two people (two HOMEs) share one vault file, each with their
// identity in a REAL OS keychain (gnome-keyring on a private D-Bus session, one for the whole
// file). Read access must be enforced twice: by the CLI's policy check (exit 5) and by the
// cryptography (a denied member holds no data key, so even the library cannot open the value).
// Skips with a reason on a machine without gnome-keyring; under CI=true it never skips.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import type { Identity } from '../src/core/ports.js';
import type { VersionRecord, VaultFileRecord } from '../src/core/model.js';
import { decodeKey, decodePublicIdentity, identityFromSeed } from '../src/crypto/identity.js';
import { SodiumValueCipher } from '../src/crypto/value-cipher.js';
import { type CliResult, marker, type RunOptions, sandbox, type Sandbox, VAULT_FORMAT } from './support/cli.js';
import { vaultRecords } from './support/vault-records.js';
import { type KeyringSession, keyringAvailable, secretToolLookup, skipReason, startKeyring } from './support/keyring.js';

const skip = skipReason(keyringAvailable());

/** Every value stored in this file: none may ever show up on any stderr. */
const values: string[] = [];

/** One person at one vault: their own HOME (and keychain entry), the shared vault path. */
interface Person {
  readonly name: string;
  readonly sb: Sandbox;
  run(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** Runs, asserts exit 0, returns stdout. */
  ok(args: readonly string[], opts?: RunOptions): Promise<string>;
}

function person(name: string, env: Record<string, string>, vault: string, extraArgs: readonly string[] = []): Person {
  const sb = sandbox({ ...env, SECRETS_VAULT: vault });
  const run = async (args: readonly string[], opts?: RunOptions): Promise<CliResult> => {
    const r = await sb.run([...extraArgs, ...args], opts);
    for (const v of values) assert.ok(!r.stderr.includes(v), `${name}: secrets ${args.join(' ')} printed a secret value on stderr`);
    return r;
  };
  return {
    name,
    sb,
    run,
    async ok(args, opts) {
      const r = await run(args, opts);
      assert.equal(r.code, 0, `${name}: secrets ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
      return r.stdout;
    },
  };
}

/** A fresh value for a secret, remembered for the stderr leak check. */
function value(): string {
  const m = marker();
  values.push(m.value);
  return m.value;
}

/** Writes a policy document (JSON) into `dir` and returns its path. */
function policyFile(dir: string, name: string, doc: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(doc, null, 2));
  return path;
}

/** Asserts a denial: exit 5, the one-line error naming who, what and why, nothing on stdout. */
function assertDenied(r: CliResult, message: RegExp): void {
  assert.equal(r.code, 5, `expected exit 5 (denied), got ${r.code}:\n${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, message);
}

async function records(vault: string): Promise<readonly VaultFileRecord[]> {
  return vaultRecords(vault);
}

async function vaultId(vault: string): Promise<string> {
  const v = (await records(vault)).find((r) => r.kind === 'vault');
  assert.ok(v?.kind === 'vault');
  return v.id;
}

/** The version records of the secret called `name`, oldest first as stored. */
async function versionsOf(vault: string, name: string): Promise<VersionRecord[]> {
  const all = await records(vault);
  const secret = all.find((r) => r.kind === 'secret' && r.name === name);
  assert.ok(secret?.kind === 'secret', `no secret ${name} in the vault file`);
  return all.filter((r): r is VersionRecord => r.kind === 'version' && r.secret === secret.id);
}

/** The version the secret's CURRENT label points to. */
async function currentVersion(vault: string, name: string): Promise<VersionRecord> {
  const secret = (await records(vault)).find((r) => r.kind === 'secret' && r.name === name);
  assert.ok(secret?.kind === 'secret');
  const id = secret.stages.get('CURRENT');
  const v = (await versionsOf(vault, name)).find((x) => x.id === id);
  assert.ok(v, `CURRENT of ${name} points to no version`);
  return v;
}

/** Opens a version with the library, as `identity`: the value, or the SecretsError code it failed with. */
async function openAs(version: VersionRecord, vault: string, identity: Identity): Promise<{ value?: string; error?: string }> {
  try {
    const bytes = await new SodiumValueCipher().open(version, await vaultId(vault), identity);
    return { value: bytes.revealText() ?? '(binary)' };
  } catch (err) {
    if (err instanceof SecretsError) return { error: err.code };
    throw err;
  }
}

interface Pointer {
  id: string;
  store: string;
}

/** The identity pointer (`identity.json`): which id, and where its key lives. */
function pointerOf(sb: Sandbox): Pointer {
  const p = JSON.parse(readFileSync(join(sb.home, '.config/secrets/identity.json'), 'utf8')) as Pointer;
  return { id: p.id, store: p.store };
}

interface MemberJson {
  Name: string;
  Id: string;
  Role: string;
  Status: string;
  Policies: string[];
  Exposed?: string[];
}

const DEV_READ = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'ReadDev', Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:DescribeSecret'], Resource: 'dev/*' }],
};

describe('a team vault: two people, two keychain identities, one file', { skip }, () => {
  let keyring: KeyringSession;
  let bus: Record<string, string>;
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;
  let aliceId: string;
  let bobId: string;
  let bobLine: string;
  let bobIdentity: Identity;
  const prod = { value: '' };
  const dev = { value: '' };

  before(async () => {
    keyring = await startKeyring();
    // Only the bus address, as in keychain.test.ts: each person keeps the XDG directories of
    // their own sandbox, so their identity pointers and trust state stay apart.
    bus = { DBUS_SESSION_BUS_ADDRESS: keyring.env['DBUS_SESSION_BUS_ADDRESS'] as string };
    dir = mkdtempSync(join(tmpdir(), 'secrets-team-'));
    vault = join(dir, 'team.yaml');
    alice = person('alice', bus, vault);
    bob = person('bob', bus, vault);
  });

  after(async () => {
    await keyring?.stop();
    alice?.sb.cleanup();
    bob?.sb.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('1. alice creates the vault with a keychain identity; bob shows his; alice adds him', async () => {
    const init = JSON.parse(await alice.ok(['init', '--name', 'team', '--member-name', 'alice', '--json'])) as {
      IdentityId: string;
      IdentitySource: string;
    };
    aliceId = init.IdentityId;
    assert.equal(init.IdentitySource, 'keychain');
    assert.deepEqual(pointerOf(alice.sb), { id: aliceId, store: 'keychain' });
    assert.match((await secretToolLookup(keyring.env, 'secrets', aliceId)) ?? '', /^SECRETS-KEY-1/);
    assert.equal(existsSync(join(alice.sb.home, '.config/secrets/identity.key')), false);

    // bob is not a member yet: he is refused, naming his identity.
    const early = await bob.run(['list']);
    assert.equal(early.code, 7, 'bob has no identity yet: the first command that needs one does not create it');
    assert.equal(early.stdout, '');

    const show = await bob.run(['identity', 'show']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^secrets-identity-1[A-Za-z0-9_-]+\n$/, 'stdout is exactly one public identity line');
    assert.match(show.stderr, /Created this machine's identity [0-9a-f]{16}/);
    assert.doesNotMatch(show.stderr, /warning/, 'a keychain is reachable: no fallback file');
    bobLine = show.stdout.trim();
    bobId = (await decodePublicIdentity(bobLine)).id;
    assert.notEqual(bobId, aliceId);
    assert.deepEqual(pointerOf(bob.sb), { id: bobId, store: 'keychain' });
    assert.match((await secretToolLookup(keyring.env, 'secrets', bobId)) ?? '', /^SECRETS-KEY-1/, "bob's own keychain entry");
    assert.equal(existsSync(join(bob.sb.home, '.config/secrets/identity.key')), false);
    // Showing it again prints the same identity and creates nothing.
    const again = await bob.run(['identity', 'show']);
    assert.equal(again.stdout, show.stdout);
    assert.doesNotMatch(again.stderr, /Created/);

    const notYet = await bob.run(['list']);
    assertDenied(notYet, new RegExp(`^secrets: error: this identity \\(${bobId}\\) is not a member of the vault at `));

    const add = await alice.run(['member', 'add', 'bob', bobLine]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, '');
    assert.match(add.stderr, /Added bob \(.+\) as member\./);
    assert.match(add.stderr, /bob can do nothing yet: attach a policy/);

    const list = JSON.parse(await alice.ok(['member', 'list', '--json'])) as { Members: MemberJson[] };
    assert.deepEqual(
      list.Members.map((m) => ({ Name: m.Name, Id: m.Id, Role: m.Role, Status: m.Status })),
      [
        { Name: 'alice', Id: aliceId, Role: 'admin', Status: 'active' },
        { Name: 'bob', Id: bobId, Role: 'member', Status: 'active' },
      ],
    );
    const members = (await records(vault)).filter((r) => r.kind === 'member');
    assert.deepEqual(members.map((m) => (m.kind === 'member' ? [m.name, m.id, m.roles, m.by] : [])).sort(), [
      ['alice', aliceId, ['admin'], aliceId],
      ['bob', bobId, ['member'], aliceId],
    ]);
  });

  test('2. a policy on dev/* lets bob read dev/db; prod/db is an implicit deny', async () => {
    prod.value = value();
    dev.value = value();
    await alice.ok(['create', 'prod/db', '--value-stdin'], { input: prod.value });
    await alice.ok(['create', 'dev/db', '--value-stdin'], { input: dev.value });

    const put = await alice.run(['policy', 'put', 'dev-read', '-f', policyFile(dir, 'dev-read', DEV_READ)]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /Created policy dev-read\./);
    const attach = await alice.run(['policy', 'attach', 'dev-read', 'bob']);
    assert.equal(attach.code, 0, attach.stderr);
    assert.match(attach.stderr, /Policy dev-read attached to bob\./);

    assert.equal(await bob.ok(['get', 'dev/db']), dev.value);

    const denied = await bob.run(['get', 'prod/db']);
    assertDenied(denied, /^secrets: error: bob is not allowed secrets:GetSecretValue on prod\/db: implicit deny/);
    assert.ok(!denied.stdoutBytes.includes(Buffer.from(prod.value)));

    // describe is allowed on dev/* only, too.
    assert.match(await bob.ok(['describe', 'dev/db']), /Name:\s+dev\/db/);
    assertDenied(await bob.run(['describe', 'prod/db']), /bob is not allowed secrets:DescribeSecret on prod\/db: implicit deny/);
  });

  test('3. the cryptography agrees: bob holds no data key for prod/db, even through the library', async () => {
    const stored = await secretToolLookup(keyring.env, 'secrets', bobId);
    assert.ok(stored !== null, "bob's seed is in the keychain");
    bobIdentity = await identityFromSeed(decodeKey(stored, "bob's keychain entry"));
    assert.equal(bobIdentity.id, bobId);

    const prodVersions = await versionsOf(vault, 'prod/db');
    assert.equal(prodVersions.length, 1);
    for (const v of prodVersions) {
      assert.deepEqual([...v.keys.keys()], [aliceId], 'prod/db is sealed to alice only');
      assert.deepEqual(await openAs(v, vault, bobIdentity), { error: 'DECRYPTION_FAILED' });
    }
    const devVersion = await currentVersion(vault, 'dev/db');
    assert.deepEqual([...devVersion.keys.keys()].sort(), [aliceId, bobId].sort(), 'dev/db is sealed to alice and bob');
    assert.deepEqual(await openAs(devVersion, vault, bobIdentity), { value: dev.value });
  });

  test('4. a resource policy on prod/db re-seals its existing version to bob; deleting it withdraws the key', async () => {
    const before = await currentVersion(vault, 'prod/db');
    const doc = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'BobReadsProd', Effect: 'Allow', Principal: { Member: ['bob'] }, Action: 'secrets:GetSecretValue', Resource: '*' }],
    };
    const put = await alice.run(['policy', 'put', '--secret', 'prod/db', '-f', policyFile(dir, 'prod-bob', doc)]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /Created the resource policy of prod\/db\./);

    const shared = await currentVersion(vault, 'prod/db');
    assert.equal(shared.id, before.id, 'the same version, not a new one');
    assert.equal(shared.ct, before.ct, 'the ciphertext is untouched; only the data key is shared');
    assert.deepEqual([...shared.keys.keys()].sort(), [aliceId, bobId].sort());
    assert.equal(await bob.ok(['get', 'prod/db']), prod.value);
    assert.deepEqual(await openAs(shared, vault, bobIdentity), { value: prod.value });

    const del = await alice.run(['policy', 'delete', '--secret', 'prod/db', '--yes']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /Deleted the resource policy of prod\/db\./);
    const withdrawn = await currentVersion(vault, 'prod/db');
    assert.equal(withdrawn.id, before.id);
    assert.deepEqual([...withdrawn.keys.keys()], [aliceId], "bob's key is gone from the file");
    // Format 1 rewrites the file, so the withdrawn key is gone from it. Format 2 only appends:
    // the key stays in the history (bob held it anyway) until `secrets compact`.
    if (VAULT_FORMAT === '1')
      assert.ok(!readFileSync(vault, 'utf8').includes(shared.keys.get(bobId) as string), 'not one byte of the withdrawn sealed key remains');
    assertDenied(await bob.run(['get', 'prod/db']), /^secrets: error: bob is not allowed secrets:GetSecretValue on prod\/db: implicit deny/);
    assert.deepEqual(await openAs(withdrawn, vault, bobIdentity), { error: 'DECRYPTION_FAILED' });
  });

  test('5. removing bob lists what he could read, and new values are not sealed to him', async () => {
    const removed = await alice.run(['member', 'remove', 'bob', '--yes']);
    assert.equal(removed.code, 0, removed.stderr);
    // dev/db by policy now, and prod/db because he held its key in step 4 (withdrawn access is
    // remembered as exposure: a value once readable may have been read).
    assert.equal(removed.stdout, 'dev/db\nprod/db\n', 'exactly the secrets bob could ever read, one per line');
    assert.match(removed.stderr, /Removed bob \(.+\); new versions are not encrypted to them\./);
    assert.match(removed.stderr, /bob could read 2 secret\(s\), listed on stdout\. A value already read cannot be un-read: rotate them\./);

    const active = JSON.parse(await alice.ok(['member', 'list', '--json'])) as { Members: MemberJson[] };
    assert.deepEqual(
      active.Members.map((m) => m.Name),
      ['alice'],
    );
    const all = JSON.parse(await alice.ok(['member', 'list', '--removed', '--json'])) as { Members: MemberJson[] };
    const gone = all.Members.find((m) => m.Name === 'bob');
    assert.ok(gone);
    assert.equal(gone.Id, bobId);
    assert.equal(gone.Status, 'removed');
    assert.deepEqual(gone.Exposed, ['dev/db', 'prod/db']);

    const newValue = value();
    await alice.ok(['put', 'dev/db', '--value-stdin'], { input: newValue });
    const fresh = await currentVersion(vault, 'dev/db');
    assert.deepEqual([...fresh.keys.keys()], [aliceId], 'the new version is sealed to alice only');
    for (const r of await records(vault)) {
      if (r.kind === 'version') assert.equal(r.keys.has(bobId), false, `version ${r.id} still has a key for bob`);
    }
    assert.equal((await versionsOf(vault, 'dev/db')).length, 2);

    const denied = await bob.run(['get', 'dev/db']);
    assertDenied(denied, new RegExp(`^secrets: error: this identity \\(${bobId}\\) was removed from the vault at `));
    assert.deepEqual(await openAs(fresh, vault, bobIdentity), { error: 'DECRYPTION_FAILED' });
    for (const v of await versionsOf(vault, 'dev/db')) assert.deepEqual(await openAs(v, vault, bobIdentity), { error: 'DECRYPTION_FAILED' });
    assert.equal(await alice.ok(['get', 'dev/db']), newValue);

    const verify = await alice.run(['verify']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stderr, /records verified in vault .*: every signature valid, every writer allowed/);
    assert.doesNotMatch(verify.stderr, /warning/, 'no key out of step with policy');
  });
});

describe('a member (not an admin) does only what policies allow', { skip }, () => {
  let keyring: KeyringSession;
  let dir: string;
  let vault: string;
  let alice: Person;
  let carol: Person;
  let carolLine: string;
  let carolId: string;

  before(async () => {
    keyring = await startKeyring();
    const bus = { DBUS_SESSION_BUS_ADDRESS: keyring.env['DBUS_SESSION_BUS_ADDRESS'] as string };
    dir = mkdtempSync(join(tmpdir(), 'secrets-team-'));
    vault = join(dir, 'team.yaml');
    alice = person('alice', bus, vault);
    await alice.ok(['init', '--member-name', 'alice']);
    // carol is a CI runner: an identity made with `identity new --out`, used via --identity-file.
    const keyFile = join(dir, 'carol.key');
    const made = await alice.run(['identity', 'new', '--name', 'carol', '--out', keyFile]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^secrets-identity-1[A-Za-z0-9_-]+\n$/);
    carolLine = made.stdout.trim();
    carolId = (await decodePublicIdentity(carolLine)).id;
    assert.equal(await secretToolLookup(keyring.env, 'secrets', carolId), null, 'a new machine identity is stored nowhere but --out');
    carol = person('carol', {}, vault, ['--identity-file', keyFile]);
    await alice.ok(['member', 'add', 'carol', carolLine]);
  });

  after(async () => {
    await keyring?.stop();
    alice?.sb.cleanup();
    carol?.sb.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('6. membership and policies are for admins only; writes follow PutSecretValue on dev/*', async () => {
    const devWrite = policyFile(dir, 'dev-write', {
      Version: '2012-10-17',
      Statement: [{ Sid: 'WriteDev', Effect: 'Allow', Action: ['secrets:PutSecretValue', 'secrets:GetSecretValue'], Resource: 'dev/*' }],
    });
    await alice.ok(['policy', 'put', 'dev-write', '-f', devWrite]);
    const first = value();
    await alice.ok(['create', 'dev/x', '--value-stdin'], { input: first });
    await alice.ok(['create', 'prod/db', '--value-stdin'], { input: value() });

    const unchanged = readFileSync(vault);
    // Any valid public identity will do: the admin check comes first.
    assertDenied(await carol.run(['member', 'add', 'mallory', carolLine]), /^secrets: error: only an admin can add members; member "carol" is not one/);
    assertDenied(await carol.run(['policy', 'put', 'mine', '-f', devWrite]), /^secrets: error: only an admin can change policies; member "carol" is not one/);
    assertDenied(await carol.run(['policy', 'attach', 'dev-write', 'carol']), /^secrets: error: only an admin can change policies; member "carol" is not one/);
    assertDenied(await carol.run(['member', 'remove', 'alice', '--yes']), /^secrets: error: only an admin can remove members/);
    assertDenied(await carol.run(['reseal']), /^secrets: error: only an admin can reseal the vault/);
    assert.deepEqual(readFileSync(vault), unchanged, 'a denied command leaves the vault byte for byte unchanged');

    // Without a policy carol can do nothing at all.
    assertDenied(
      await carol.run(['put', 'dev/x', '--value-stdin'], { input: value() }),
      /carol is not allowed secrets:PutSecretValue on dev\/x: implicit deny/,
    );

    await alice.ok(['policy', 'attach', 'dev-write', 'carol']);
    const mine = value();
    const put = await carol.run(['put', 'dev/x', '--value-stdin'], { input: mine });
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stderr, /^Stored dev\/x version /);
    const written = await currentVersion(vault, 'dev/x');
    assert.equal(written.by, carolId, 'the version is signed by carol');
    assert.equal(written.act, 'PutSecretValue');
    assert.equal(await alice.ok(['get', 'dev/x']), mine);
    assert.equal(await carol.ok(['get', 'dev/x']), mine);

    const before = readFileSync(vault);
    const denied = await carol.run(['put', 'prod/db', '--value-stdin'], { input: value() });
    assertDenied(denied, /^secrets: error: carol is not allowed secrets:PutSecretValue on prod\/db: implicit deny/);
    assert.deepEqual(readFileSync(vault), before);

    const verify = await alice.run(['verify']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stderr, /every signature valid, every writer allowed/);
  });

  test('7. policy simulate: the deciding statement, implicit and explicit deny, and a time condition', async () => {
    // Continues test 6: dev-write is attached to carol.
    const allow = await alice.run(['policy', 'simulate', '--member', 'carol', '--action', 'secrets:PutSecretValue', '--secret', 'dev/x']);
    assert.equal(allow.code, 0, allow.stderr);
    assert.match(allow.stdout, /Decision:\s+allow\n/);
    assert.match(allow.stdout, /Reason:\s+allowed by policy "dev-write", statement "WriteDev"/);
    const allowJson = JSON.parse(await alice.ok(['policy', 'simulate', '--member', 'carol', '--action', 'PutSecretValue', '--secret', 'dev/x', '--json'])) as {
      Decision: string;
      DecidedBy?: { Policy: string; Sid?: string };
      HoldsKey?: boolean;
    };
    assert.equal(allowJson.Decision, 'allowed');
    assert.match(allowJson.DecidedBy?.Policy ?? '', /dev-write/);
    assert.equal(allowJson.DecidedBy?.Sid, 'WriteDev');
    assert.equal(allowJson.HoldsKey, true);

    const implicit = await alice.run(['policy', 'simulate', '--member', 'carol', '--action', 'secrets:GetSecretValue', '--secret', 'prod/db']);
    assert.equal(implicit.code, 0, implicit.stderr);
    assert.match(implicit.stdout, /Decision:\s+deny \(implicit\)/);
    assert.match(implicit.stdout, /implicit deny: no statement allows it/);
    assert.match(implicit.stdout, /Holds key:\s+no/);

    const denyDelete = policyFile(dir, 'no-deletes', {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'AllowAllDev', Effect: 'Allow', Action: 'secrets:*', Resource: 'dev/*' },
        { Sid: 'NeverDelete', Effect: 'Deny', Action: 'secrets:DeleteSecret', Resource: '*' },
      ],
    });
    await alice.ok(['policy', 'put', 'no-deletes', '-f', denyDelete]);
    await alice.ok(['policy', 'attach', 'no-deletes', 'carol']);
    const explicit = JSON.parse(
      await alice.ok(['policy', 'simulate', '--member', 'carol', '--action', 'secrets:DeleteSecret', '--secret', 'dev/x', '--json']),
    ) as {
      Decision: string;
      DecidedBy?: { Policy: string; Sid?: string };
      Reason: string;
    };
    assert.equal(explicit.Decision, 'explicitDeny', 'explicit deny beats the allow of secrets:* on dev/*');
    assert.equal(explicit.DecidedBy?.Sid, 'NeverDelete');
    assert.match(explicit.Reason, /^explicit deny in policy "no-deletes", statement "NeverDelete"/);
    const explicitText = await alice.ok(['policy', 'simulate', '--member', 'carol', '--action', 'secrets:DeleteSecret', '--secret', 'dev/x']);
    assert.match(explicitText, /Decision:\s+deny \(explicit\)/);
    // And the real command agrees with the simulation.
    assertDenied(
      await carol.run(['delete', 'dev/x', '--yes']),
      /carol is not allowed secrets:DeleteSecret on dev\/x: explicit deny in policy "no-deletes", statement "NeverDelete"/,
    );

    const until = policyFile(dir, 'until-2030', {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ProdUntil2030',
          Effect: 'Allow',
          Action: 'secrets:GetSecretValue',
          Resource: 'prod/db',
          Condition: { DateLessThan: { 'secrets:CurrentTime': '2030-01-01T00:00:00Z' } },
        },
      ],
    });
    await alice.ok(['policy', 'put', 'until-2030', '-f', until]);
    await alice.ok(['policy', 'attach', 'until-2030', 'carol']);
    const at = async (time: string): Promise<{ Decision: string; DecidedBy?: { Sid?: string } }> =>
      JSON.parse(
        await alice.ok([
          'policy',
          'simulate',
          '--member',
          'carol',
          '--action',
          'secrets:GetSecretValue',
          '--secret',
          'prod/db',
          '--context',
          `secrets:CurrentTime=${time}`,
          '--json',
        ]),
      ) as { Decision: string; DecidedBy?: { Sid?: string } };
    const early = await at('2029-12-31T23:59:59Z');
    assert.equal(early.Decision, 'allowed');
    assert.equal(early.DecidedBy?.Sid, 'ProdUntil2030');
    assert.equal((await at('2030-01-01T00:00:00Z')).Decision, 'implicitDeny', 'date bounds are strict');
    assert.equal((await at('2030-06-01T00:00:00Z')).Decision, 'implicitDeny');
    const lateText = await alice.ok([
      'policy',
      'simulate',
      '--member',
      'carol',
      '--action',
      'secrets:GetSecretValue',
      '--secret',
      'prod/db',
      '--context',
      'secrets:CurrentTime=2031-01-01T00:00:00Z',
    ]);
    assert.match(lateText, /Decision:\s+deny \(implicit\)/);

    // An admin is allowed by the role, and a bad context key is a usage error.
    const admin = await alice.ok(['policy', 'simulate', '--member', 'alice', '--action', 'secrets:DeleteSecret', '--secret', 'prod/db']);
    assert.match(admin, /Decision:\s+allow\n/);
    assert.match(admin, /admin role/);
    const bad = await alice.run([
      'policy',
      'simulate',
      '--member',
      'carol',
      '--action',
      'secrets:GetSecretValue',
      '--secret',
      'prod/db',
      '--context',
      'nonsense',
    ]);
    assert.equal(bad.code, 2);
  });

  test('8. detaching a policy withdraws keys, and what carol wrote with it stays valid', async () => {
    // Continues tests 6-7: carol wrote the CURRENT version of dev/x while dev-write was attached.
    const hers = await currentVersion(vault, 'dev/x');
    assert.equal(hers.by, carolId);
    for (const name of ['dev-write', 'no-deletes', 'until-2030']) {
      const r = await alice.run(['policy', 'detach', name, 'carol', '--yes']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`Policy ${name} detached from carol\\.`));
    }
    for (const r of await records(vault)) {
      if (r.kind === 'version') assert.equal(r.keys.has(carolId), false, `version ${r.id} still has a key for carol`);
    }
    assertDenied(await carol.run(['get', 'dev/x']), /^secrets: error: carol is not allowed secrets:GetSecretValue on dev\/x: implicit deny/);
    // Her version was written with a permission she no longer has: an admin vouches for it now,
    // so every reader still accepts it.
    assert.equal((await currentVersion(vault, 'dev/x')).id, hers.id);
    const verify = await alice.run(['verify']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stderr, /every signature valid, every writer allowed/);
    assert.equal((await alice.run(['get', 'dev/x'])).code, 0);
    const list = JSON.parse(await alice.ok(['member', 'list', '--json'])) as { Members: MemberJson[] };
    assert.deepEqual(list.Members.find((m) => m.Name === 'carol')?.Policies, []);
  });
});
