/**
 * More attacks by members, found by a review done as a malicious member would, end to end
 * through the built binary. Each worked before its fix; each test performs it and sees it
 * refused: a secret renamed (or its versions copied) into the attacker's scope, a master
 * password sent to the attacker's database server, variables that run code set through a
 * secret's name, and settings that a removal or a policy change laundered.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FORMAT_1 } from './support/cli.js';
import { explain, fakePostgres, forge, grant, type Person, person, type Rec, readRecords, secretRecord, team } from './support/insider.js';

describe("a secret cannot be moved into a member's scope", () => {
  let t: Awaited<ReturnType<typeof team>>;
  let alice: Person;
  let bob: Person;
  before(async () => {
    t = await team(['bob'], [], FORMAT_1);
    [alice, bob] = t.people as [Person, Person];
    await grant(alice, t.dir, 'bob', [
      {
        Effect: 'Allow',
        Action: ['secrets:TagResource', 'secrets:GetSecretValue', 'secrets:DescribeSecret', 'secrets:CreateSecret', 'secrets:PutSecretValue'],
        Resource: 'dev/*',
      },
    ]);
    await alice.ok(['create', 'prod/db', '--value-stdin'], { input: 'PROD-PASSWORD' });
  });
  after(() => t.cleanup());

  it('a record of prod/db renamed to dev/stolen (under TagResource) is refused by verify, by get, and by the next admin change', async () => {
    // On a copy, with alice and bob on other machines, so this vault's trust state is untouched.
    const copy = join(t.dir, 'renamed.yaml');
    writeFileSync(copy, readFileSync(t.vault));
    const a = await person('alice', copy, alice.key, FORMAT_1);
    const b = await person('bob', copy, bob.key, FORMAT_1);
    const carol = await person('carol', copy, undefined, FORMAT_1);
    try {
      await forge(copy, bob.identity, (recs) =>
        recs.map((r) => (r.kind === 'secret' && r['name'] === 'prod/db' ? { ...r, name: 'dev/stolen', act: 'TagResource' } : r)),
      );
      const v = await a.run(['verify']);
      assert.equal(v.code, 6, explain('verify', v));
      assert.match(v.stderr, /its name does not match its id .*: a secret cannot be renamed/);
      const before = readFileSync(copy);
      const add = await a.run(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim()]);
      assert.equal(add.code, 6, explain('member add', add));
      assert.deepEqual(readFileSync(copy), before, 'nothing was re-sealed');
      const got = await b.run(['get', 'dev/stolen']);
      assert.notEqual(got.code, 0);
      assert.doesNotMatch(got.stdout, /PROD-PASSWORD/);
    } finally {
      for (const p of [a, b, carol]) p.sb.cleanup();
    }
  });

  it("a copy of prod/db's version put into bob's own secret never gets its data key shared", async () => {
    await bob.ok(['create', 'dev/copy', '--value-stdin'], { input: 'bob-own' });
    const { recs } = readRecords(t.vault);
    const prod = secretRecord(t.vault, 'prod/db');
    const mine = secretRecord(t.vault, 'dev/copy');
    const stolen = recs.find((r) => r.kind === 'version' && r['id'] === (prod['stages'] as Record<string, string>)['CURRENT']) as Rec;
    const copyId = '0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b';
    await forge(t.vault, bob.identity, (all) => {
      const out: Rec[] = [];
      for (const r of all) {
        if (r.kind === 'secret' && r['name'] === 'dev/copy') {
          out.push({ ...r, stages: { CURRENT: copyId }, act: 'PutSecretValue' });
          out.push({ ...stolen, secret: mine['id'], id: copyId, act: 'PutSecretValue' });
        } else if (!(r.kind === 'version' && r['secret'] === mine['id'])) {
          out.push(r);
        }
      }
      return out;
    });
    assert.equal((await alice.run(['verify'])).code, 0, 'each record, on its own, is one bob may write');
    const before = readFileSync(t.vault);
    const carol = await person('carol', t.vault, undefined, FORMAT_1);
    try {
      const add = await alice.run(['member', 'add', 'carol', (await carol.ok(['identity', 'show'])).trim()]);
      assert.equal(add.code, 6, explain('member add', add));
      assert.match(add.stderr, /does not decrypt where it stands/);
    } finally {
      carol.sb.cleanup();
    }
    assert.deepEqual(readFileSync(t.vault), before);
    const got = await bob.run(['get', 'dev/copy']);
    assert.notEqual(got.code, 0);
    assert.doesNotMatch(got.stdout, /PROD-PASSWORD/);
  });
});

describe('a master secret is used only with the authority of someone who may read it', () => {
  let t: Awaited<ReturnType<typeof team>>;
  let alice: Person;
  let bob: Person;
  let server: Server;
  let port: number;
  const seen: string[] = [];
  before(async () => {
    t = await team(['bob'], [], FORMAT_1);
    [alice, bob] = t.people as [Person, Person];
    await grant(alice, t.dir, 'bob', [
      {
        Effect: 'Allow',
        Action: ['secrets:CreateSecret', 'secrets:PutSecretValue', 'secrets:RotateSecret', 'secrets:GetSecretValue', 'secrets:DescribeSecret'],
        Resource: 'dev/*',
      },
    ]);
    await alice.ok(['create', 'prod/db-admin', '--value-stdin'], { input: JSON.stringify({ username: 'postgres', password: 'PROD-MASTER-PW' }) });
    ({ server, port } = await fakePostgres(seen));
    await bob.ok(['create', 'dev/db', '--value-stdin'], {
      input: JSON.stringify({ engine: 'postgres', host: '127.0.0.1', port, username: 'app', password: 'dev-pw', dbname: 'app', sslmode: 'disable' }),
    });
  });
  after(() => {
    server.close();
    t.cleanup();
  });

  it('bob may not name a master secret he cannot read (exit 5, nothing stored)', async () => {
    const before = readFileSync(t.vault);
    const r = await bob.run([
      'rotate',
      'dev/db',
      '--handler',
      'postgres',
      '--strategy',
      'alternating-users',
      '--master-secret',
      'prod/db-admin',
      '--no-rotate-now',
    ]);
    assert.equal(r.code, 5, explain('configure', r));
    assert.match(r.stderr, /secrets:GetSecretValue on prod\/db-admin/);
    assert.deepEqual(readFileSync(t.vault), before);
  });

  it("with a modified client he stores it anyway: alice's rotation refuses (exit 5) and his server sees no password", async () => {
    await forge(t.vault, bob.identity, (recs) =>
      recs.map((r) =>
        r.kind === 'secret' && r['name'] === 'dev/db'
          ? {
              ...r,
              act: 'RotateSecret',
              rotation: { handler: 'postgres', enabled: true, strategy: 'alternating-users', master: 'prod/db-admin', since: '2020-01-01T00:00:00.000Z' },
            }
          : r,
      ),
    );
    const r = await alice.run(['rotate', 'dev/db']);
    assert.equal(r.code, 5, explain('alice rotates', r));
    assert.match(r.stderr, /uses the master secret prod\/db-admin, which bob .* may not read/);
    assert.deepEqual(seen, []);
  });
});

describe("variables that run code cannot come from a secret's name", () => {
  let t: Awaited<ReturnType<typeof team>>;
  let alice: Person;
  before(async () => {
    t = await team([], [], FORMAT_1);
    [alice] = t.people as [Person];
    await alice.ok(['create', 'dev/ps0', '--value-stdin'], { input: `$(touch ${join(t.dir, 'pwned')})` });
    await alice.ok(['create', 'dev/pip_index_url', '--value-stdin'], { input: 'https://evil.example/simple' });
  });
  after(() => t.cleanup());

  it('exec --prefix and eval "$(secrets env --format shell)" refuse PS0 and PIP_INDEX_URL (exit 5)', async () => {
    const e = await alice.run(['exec', '--prefix', 'dev/', '--', 'true']);
    assert.equal(e.code, 5, explain('exec', e));
    assert.match(e.stderr, /PIP_INDEX_URL|PS0/);
    const env = await alice.run(['env', '--prefix', 'dev/', '--format', 'shell']);
    assert.equal(env.code, 5, explain('env', env));
    assert.equal(env.stdout, '');
    const r = spawnSync('bash', ['--norc', '--noprofile', '-i'], {
      input: `eval "${env.stdout}"\ntrue\nexit\n`,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: t.dir },
    });
    assert.equal(r.status, 0);
    assert.equal(existsSync(join(t.dir, 'pwned')), false);
  });
});

describe('what a member took away or wrote is held when they lose the permission', () => {
  it('an untag by bob is held at his removal: the Deny on the tag still applies to carol', async () => {
    const t = await team(['bob', 'carol'], [], FORMAT_1);
    const [alice, bob, carol] = t.people as [Person, Person, Person];
    try {
      await grant(alice, t.dir, 'bob', [{ Effect: 'Allow', Action: ['secrets:UntagResource', 'secrets:DescribeSecret'], Resource: 'dev/*' }]);
      await grant(alice, t.dir, 'carol', [
        { Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'dev/*' },
        {
          Effect: 'Deny',
          Action: 'secrets:GetSecretValue',
          Resource: '*',
          Condition: { StringEquals: { 'secrets:ResourceTag/classification': 'restricted' } },
        },
      ]);
      await alice.ok(['create', 'dev/payroll', '--value-stdin', '--tag', 'classification=restricted'], { input: 'PAYROLL-KEY' });
      await bob.ok(['untag', 'dev/payroll', 'classification']);
      const r = await alice.run(['member', 'remove', 'bob', '--yes']);
      assert.equal(r.code, 0, explain('remove', r));
      assert.match(r.stderr, /dev\/payroll: no handler, no tags/);
      const got = await carol.run(['get', 'dev/payroll']);
      assert.equal(got.code, 5, explain('carol get', got));
    } finally {
      t.cleanup();
    }
  });

  it('a description bob wrote does not grant carol access once he is removed', async () => {
    const t = await team(['bob', 'carol'], [], FORMAT_1);
    const [alice, bob, carol] = t.people as [Person, Person, Person];
    try {
      await grant(alice, t.dir, 'bob', [{ Effect: 'Allow', Action: ['secrets:TagResource'], Resource: 'prod/ops' }]);
      await grant(alice, t.dir, 'carol', [
        { Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: '*', Condition: { StringLike: { 'secrets:Description': '*[ops-shared]*' } } },
      ]);
      await alice.ok(['create', 'prod/ops', '--value-stdin'], { input: 'PROD-OPS-KEY' });
      await forge(t.vault, bob.identity, (recs) =>
        recs.map((r) => (r.kind === 'secret' && r['name'] === 'prod/ops' ? { ...r, description: 'creds [ops-shared]', act: 'TagResource' } : r)),
      );
      await alice.ok(['member', 'remove', 'bob', '--yes']);
      const got = await carol.run(['get', 'prod/ops']);
      assert.equal(got.code, 5, explain('carol get', got));
    } finally {
      t.cleanup();
    }
  });

  it("detaching bob's policy keeps his record under his name and holds his handler; removing him later still holds it", async () => {
    const t = await team(['bob'], [], FORMAT_1);
    const [alice, bob] = t.people as [Person, Person];
    try {
      await grant(alice, t.dir, 'bob', [
        {
          Effect: 'Allow',
          Action: ['secrets:CreateSecret', 'secrets:TagResource', 'secrets:RotateSecret', 'secrets:DescribeSecret', 'secrets:GetSecretValue'],
          Resource: 'dev/*',
        },
      ]);
      await bob.ok(['create', 'dev/app', '--value-stdin', '--tag', 'team=ops'], { input: 'x' });
      await bob.ok(['rotate', 'dev/app', '--handler', 'command:deploy', '--no-rotate-now']);
      await alice.ok(['policy', 'detach', 'bob-policy', 'bob', '--yes']);
      assert.equal(secretRecord(t.vault, 'dev/app').by, bob.identity.id, "bob's record is still his");
      assert.equal((await alice.run(['verify'])).code, 0);
      const held = await alice.run(['rotate', 'dev/app']);
      assert.equal(held.code, 5, explain('rotate after detach', held));
      assert.match(held.stderr, /left by bob, who has since lost the permission to write them, and are on hold/);
      const r = await alice.run(['member', 'remove', 'bob', '--yes']);
      assert.equal(r.code, 0, explain('remove', r));
      assert.match(r.stderr, /dev\/app: rotation handler command:deploy; tags team=ops/);
      const again = await alice.run(['rotate', 'dev/app']);
      assert.equal(again.code, 5, explain('rotate after removal', again));
      assert.match(again.stderr, /since removed from the vault/);
    } finally {
      t.cleanup();
    }
  });
});
