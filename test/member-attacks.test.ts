/**
 * Attacks by a member of a shared vault (or by someone holding a member's key after the member
 * was removed), end to end through the built binary. Alice is the admin; bob a member whose
 * policies allow a little; carol a member whose reads depend on tags. Each person has their own
 * HOME and identity (SECRETS_IDENTITY_KEY) and the same vault file.
 *
 * Every attack here worked before its fix: a rotation handler was a path stored in the vault,
 * so bob chose what program alice's `rotate` ran, from alice's working directory; removing bob
 * re-signed what he wrote with alice's key, laundering his handler and his tags.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, sandbox, FORMAT_1 } from './support/cli.js';
import { explain, forge, type Person, person, policyFile, type Rec, readRecords, secretRecord, sign } from './support/insider.js';

/** A shell script that leaves `marker` behind if anything ever runs it. */
function trap(dir: string, file: string, marker: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), `#!/bin/sh\ntouch '${marker}'\ncat >/dev/null\nexit 0\n`);
  chmodSync(join(dir, file), 0o755);
}

describe('a member cannot make another member run a program', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;
  let marker: string;
  let aliceCwd: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-attack-'));
    vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault, undefined, FORMAT_1);
    bob = await person('bob', vault, undefined, FORMAT_1);
    await alice.ok(['init']);
    const bobId = (await bob.ok(['identity', 'show'])).trim();
    await alice.ok(['member', 'add', 'bob', bobId]);
    await alice.ok(['create', 'prod/api', '--value-stdin'], { input: 'api-key-1' });
    // Bob may configure rotation and tag prod/api; he cannot read it.
    const doc = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['secrets:RotateSecret', 'secrets:TagResource', 'secrets:DescribeSecret'], Resource: 'prod/*' }],
    };
    await alice.ok(['policy', 'put', 'bob-rotates', '-f', policyFile(dir, 'bob', doc)]);
    await alice.ok(['policy', 'attach', 'bob-rotates', 'bob']);
    // Alice works in a directory holding files named after the steps, as a checkout might.
    marker = join(dir, 'ran');
    aliceCwd = join(dir, 'alice-work');
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) trap(aliceCwd, step, marker);
  });
  after(() => {
    for (const p of [alice, bob]) p.sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a handler given as a path is refused when configured (exit 2), and the vault is unchanged', async () => {
    const before = readFileSync(vault);
    const r = await bob.run(['rotate', 'prod/api', '--handler', 'command:/bin/sh', '--no-rotate-now']);
    assert.equal(r.code, 2, explain('bob rotate', r));
    assert.match(r.stderr, /a rotation handler is a name now, not a path/);
    assert.deepEqual(readFileSync(vault), before);
  });

  it('a handler name this machine has not allowed does not run: exit 5 names it and how to allow it; nothing runs, nothing changes', async () => {
    await bob.ok(['rotate', 'prod/api', '--handler', 'command:sh', '--no-rotate-now']);
    const before = readFileSync(vault);
    const r = await alice.run(['rotate', 'prod/api'], { cwd: aliceCwd });
    assert.equal(r.code, 5, explain('alice rotate', r));
    assert.match(r.stderr, /cannot rotate prod\/api: rotation handler command:sh is not allowed on this machine/);
    assert.match(r.stderr, /hint: .*secrets handler allow sh /);
    assert.equal(existsSync(marker), false, 'no program ran');
    assert.deepEqual(readFileSync(vault), before, 'the vault is unchanged');
    assert.equal(await alice.ok(['get', 'prod/api']), 'api-key-1');
  });

  it('a path written by a modified client (signed under TagResource) is never run, by rotate or by rotate --due', async () => {
    await forge(vault, bob.identity, (recs) =>
      recs.map((r) =>
        r.kind === 'secret' && r['name'] === 'prod/api'
          ? { ...r, act: 'TagResource', rotation: { handler: 'command:/bin/sh', enabled: true, every: 1, since: '2020-01-01T00:00:00.000Z' } }
          : r,
      ),
    );
    assert.equal((await alice.run(['verify'])).code, 0, 'bob was allowed to write that record');
    const before = readFileSync(vault);
    const r = await alice.run(['rotate', 'prod/api'], { cwd: aliceCwd });
    assert.equal(r.code, 5, explain('alice rotate', r));
    assert.match(r.stderr, /"command:\/bin\/sh" is never run/);
    const due = await alice.run(['rotate', '--due', '--json'], { cwd: aliceCwd });
    assert.equal(due.code, 0, explain('alice rotate --due', due));
    const items = (JSON.parse(due.stdout) as { Items: { Name: string; Outcome: string; ErrorCode?: string }[] }).Items;
    assert.deepEqual(
      items.map((i) => [i.Name, i.Outcome, i.ErrorCode]),
      [['prod/api', 'skipped', 'DENIED']],
    );
    assert.equal(existsSync(marker), false, 'no program ran');
    assert.deepEqual(readFileSync(vault), before);
  });

  it("an allowed handler runs in an empty private directory, never the caller's", async () => {
    const prog = join(dir, 'rotate-api.sh');
    const seen = join(dir, 'seen');
    writeFileSync(
      prog,
      `#!/bin/sh\ncat >/dev/null\nif [ "$1" = createSecret ]; then env > '${seen}.env'; pwd > '${seen}'; ls -A >> '${seen}'; printf 'api-key-2'; fi\nexit 0\n`,
    );
    chmodSync(prog, 0o755);
    await alice.ok(['handler', 'allow', 'rotate-api', prog]);
    await alice.ok(['rotate', 'prod/api', '--handler', 'command:rotate-api'], { cwd: aliceCwd, env: { SECRETS_IDENTITY_FILE: join(dir, 'unused.key') } });
    const env = readFileSync(`${seen}.env`, 'utf8');
    assert.match(env, /^SECRETS_VAULT=/m, 'the handler inherits our settings');
    assert.doesNotMatch(env, /^SECRETS_IDENTITY_/m, 'but nothing that leads to our key');
    assert.equal(await alice.ok(['get', 'prod/api']), 'api-key-2');
    const [cwd, ...files] = readFileSync(seen, 'utf8').trim().split('\n');
    assert.notEqual(cwd, aliceCwd);
    assert.deepEqual(files, [], 'the directory is empty');
    assert.equal(existsSync(cwd as string), false, 'and removed afterwards');
    assert.equal(existsSync(marker), false);
  });

  it('the allowlist trusts nothing others could write: a group-writable program or allowlist is refused', async () => {
    const loose = join(dir, 'loose.sh');
    writeFileSync(loose, '#!/bin/sh\nexit 0\n');
    chmodSync(loose, 0o777);
    const r = await alice.run(['handler', 'allow', 'loose', loose]);
    assert.equal(r.code, 2, explain('allow loose', r));
    assert.match(r.stderr, /writable by other users/);
    const list = join(alice.sb.home, '.config', 'secrets', 'handlers.json');
    chmodSync(list, 0o666);
    try {
      const rot = await alice.run(['rotate', 'prod/api'], { cwd: aliceCwd });
      assert.equal(rot.code, 5, explain('rotate with a loose allowlist', rot));
      assert.match(rot.stderr, /handler allowlist .* is not trusted: it is writable by other users/);
    } finally {
      chmodSync(list, 0o600);
    }
  });
});

describe('removing a member launders nothing they wrote', () => {
  let dir: string;
  let vault: string;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let marker: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secrets-removal-'));
    vault = join(dir, 'vault.yaml');
    alice = await person('alice', vault, undefined, FORMAT_1);
    bob = await person('bob', vault, undefined, FORMAT_1);
    carol = await person('carol', vault, undefined, FORMAT_1);
    await alice.ok(['init']);
    await alice.ok(['member', 'add', 'bob', (await bob.ok(['identity', 'show'])).trim()]);
    await alice.ok(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim()]);
    const bobDoc = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: [
            'secrets:CreateSecret',
            'secrets:PutSecretValue',
            'secrets:TagResource',
            'secrets:RotateSecret',
            'secrets:DescribeSecret',
            'secrets:GetSecretValue',
          ],
          Resource: 'dev/*',
        },
      ],
    };
    // Carol reads what is tagged for her team: the tag decides.
    const carolDoc = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: '*', Condition: { StringEquals: { 'secrets:ResourceTag/team': 'ops' } } }],
    };
    await alice.ok(['policy', 'put', 'bob-dev', '-f', policyFile(dir, 'bob', bobDoc)]);
    await alice.ok(['policy', 'attach', 'bob-dev', 'bob']);
    await alice.ok(['policy', 'put', 'ops-read', '-f', policyFile(dir, 'carol', carolDoc)]);
    await alice.ok(['policy', 'attach', 'ops-read', 'carol']);
    // Alice's machine allows a `deploy` handler; bob points dev/app at it and tags it for carol.
    marker = join(dir, 'deployed');
    const deploy = join(dir, 'deploy.sh');
    writeFileSync(deploy, `#!/bin/sh\ncat >/dev/null\ntouch '${marker}'\nexit 0\n`);
    chmodSync(deploy, 0o755);
    await alice.ok(['handler', 'allow', 'deploy', deploy]);
    await bob.ok(['create', 'dev/app', '--value-stdin', '--tag', 'team=ops'], { input: 'app-secret-1' });
    await bob.ok(['rotate', 'dev/app', '--handler', 'command:deploy', '--no-rotate-now']);
    await bob.ok(['create', 'dev/plain', '--value-stdin'], { input: 'plain-1' });
    assert.equal(await carol.ok(['get', 'dev/app']), 'app-secret-1', "bob's tag gave carol access while he was a member");
  });
  after(() => {
    for (const p of [alice, bob, carol]) p.sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('member remove keeps bob as the author of his records and reports what he set that runs code or decides access', async () => {
    const r = await alice.run(['member', 'remove', 'bob', '--yes']);
    assert.equal(r.code, 0, explain('remove bob', r));
    assert.match(r.stderr, /on hold .*`secrets member confirm bob/s);
    assert.match(r.stderr, /dev\/app: rotation handler command:deploy; tags team=ops/);
    assert.match(r.stderr, /dev\/plain: no handler, no tags/, 'a tag he removed would be held too');
    assert.equal(secretRecord(vault, 'dev/app').by, bob.identity.id, 'not re-signed by alice');
    assert.equal(secretRecord(vault, 'dev/plain').by, bob.identity.id);
    const v = await alice.run(['verify', '--json']);
    assert.equal(v.code, 0, explain('verify', v));
    assert.deepEqual((JSON.parse(v.stdout) as { Problems: string[] }).Problems, [], 'kept history verifies');
    const listed = await alice.ok(['member', 'list', '--removed']);
    assert.match(listed, /on hold: dev\/app/);
  });

  it("bob's handler does not run for alice: rotate refuses (exit 5), rotate --exposed-to bob reports it as held", async () => {
    const before = readFileSync(vault);
    const r = await alice.run(['rotate', 'dev/app']);
    assert.equal(r.code, 5, explain('rotate', r));
    assert.match(r.stderr, /left by bob, since removed from the vault, and are on hold/);
    assert.match(r.stderr, /secrets member confirm bob dev\/app/);
    const exposed = await alice.run(['rotate', '--exposed-to', 'bob', '--json']);
    assert.equal(exposed.code, 0, explain('rotate --exposed-to', exposed));
    const items = (JSON.parse(exposed.stdout) as { Items: { Name: string; Outcome: string; Error?: string }[] }).Items;
    const app = items.find((i) => i.Name === 'dev/app');
    assert.equal(app?.Outcome, 'skipped');
    assert.match(app?.Error ?? '', /on hold/);
    assert.equal(existsSync(marker), false, 'the handler did not run');
    assert.deepEqual(readFileSync(vault), before);
  });

  it("bob's tag no longer decides access: carol lost the key it gave her", async () => {
    const r = await carol.run(['get', 'dev/app']);
    assert.equal(r.code, 5, explain('carol get', r));
  });

  it("bob's old key signs nothing valid: a record he forges, even under another member's head, is refused", async () => {
    // On a copy, read by alice on another machine, so this machine's trust state is untouched.
    const copy = join(dir, 'forged.yaml');
    writeFileSync(copy, readFileSync(vault));
    const elsewhere = await person('alice', copy, alice.key, FORMAT_1);
    try {
      const vaultId = readRecords(copy).recs.find((r) => r.kind === 'vault')?.['id'] as string;
      // Bob signs a new handler under his old counter; carol (a current member) signs the head.
      const forged: Rec = {
        ...secretRecord(copy, 'dev/plain'),
        rotation: { handler: 'command:deploy', enabled: true, since: '2020-01-01T00:00:00.000Z' },
        act: 'RotateSecret',
      };
      await sign(forged, bob.identity, vaultId);
      await forge(copy, carol.identity, (all) => all.map((r) => (r.kind === 'secret' && r['name'] === 'dev/plain' ? forged : r)), false);
      assert.equal(secretRecord(copy, 'dev/plain').by, bob.identity.id);
      for (const args of [['rotate', 'dev/plain'], ['verify'], ['get', 'dev/plain']]) {
        const r = await elsewhere.run(args);
        assert.equal(r.code, 6, explain(args.join(' '), r));
        assert.match(r.stderr, /signed by .*not a current member/);
      }
      assert.equal(existsSync(marker), false);
    } finally {
      elsewhere.sb.cleanup();
    }
  });

  it('an admin confirms what bob set: then the handler runs and the tag counts again', async () => {
    const r = await alice.run(['member', 'confirm', 'bob', 'dev/app']);
    assert.equal(r.code, 0, explain('confirm', r));
    assert.match(r.stderr, /Confirmed what bob set on:\n {2}dev\/app/);
    assert.equal(await carol.ok(['get', 'dev/app']), 'app-secret-1');
    await alice.ok(['rotate', 'dev/app']);
    assert.equal(existsSync(marker), true, 'the confirmed handler ran');
    assert.equal((await alice.run(['member', 'confirm', 'bob', 'dev/app'])).code, 3, 'nothing left to confirm');
  });

  it("an admin's removal does not vouch for the members and policies they signed, unless told to", async () => {
    const dave = await person('dave', vault, undefined, FORMAT_1);
    const eve = await person('eve', vault, undefined, FORMAT_1);
    try {
      await alice.ok(['member', 'add', 'dave', (await dave.ok(['identity', 'show'])).trim(), '--role', 'admin']);
      await dave.ok(['member', 'add', 'eve', (await eve.ok(['identity', 'show'])).trim(), '--role', 'admin']);
      const before = readFileSync(vault);
      const r = await alice.run(['member', 'remove', 'dave', '--yes']);
      assert.equal(r.code, 4, explain('remove dave', r));
      assert.match(r.stderr, /dave signed, as an admin, records still in force: member eve/);
      assert.match(r.stderr, /--confirm-records/);
      assert.deepEqual(readFileSync(vault), before);
      const ok = await alice.run(['member', 'remove', 'dave', '--yes', '--confirm-records']);
      assert.equal(ok.code, 0, explain('remove dave --confirm-records', ok));
      assert.match(ok.stderr, /Re-signed as you: member eve/);
      const eveRec = readRecords(vault).recs.find((x) => x.kind === 'member' && x['name'] === 'eve');
      assert.equal(eveRec?.by, alice.identity.id);
    } finally {
      dave.sb.cleanup();
      eve.sb.cleanup();
    }
  });
});

describe('test hooks are not in the installed command', () => {
  it('SECRETS_TEST_NOW and SECRETS_FAULT_KILL change nothing in bin/secrets', async () => {
    const sb = sandbox();
    try {
      const run = (args: string[], env: Record<string, string> = {}): ReturnType<typeof spawnSync> =>
        spawnSync(process.execPath, [BIN, ...args], { env: { ...sb.env, ...env }, cwd: sb.home, encoding: 'utf8', input: 'v' });
      assert.equal(run(['init']).status, 0);
      const created = run(['create', 'hooks/x', '--value-stdin'], { SECRETS_TEST_NOW: '2001-01-01T00:00:00Z' });
      assert.equal(created.status, 0, String(created.stderr));
      const d = JSON.parse(String(run(['describe', 'hooks/x', '--json']).stdout)) as { CreatedDate: string };
      assert.ok(Date.parse(d.CreatedDate) > Date.parse('2026-01-01'), `CreatedDate ${d.CreatedDate} is now, not the test clock`);
      const bad = run(['list'], { SECRETS_TEST_NOW: 'not a time', SECRETS_FAULT_KILL: 'nonsense' });
      assert.equal(bad.status, 0, 'the variables are not even read');
      // The test build does read them (so the suites that use them test something).
      const hooked = spawnSync(process.execPath, [join(BIN, '..', '..', 'dist', 'secrets-test-hooks.cjs'), 'list'], {
        env: { ...sb.env, SECRETS_TEST_NOW: 'not a time' },
        encoding: 'utf8',
      });
      assert.equal(hooked.status, 2);
    } finally {
      sb.cleanup();
    }
  });
});
