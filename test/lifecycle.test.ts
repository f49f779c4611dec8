// The whole secret lifecycle, end to end through the installed binary in a temp HOME.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, type Sandbox, sandbox } from './support/cli.js';

const STACK = /\n\s+at /;

function assertUserError(r: { code: number | null; stderr: string; stdout: string }, code: number, pattern?: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^secrets: error: .+\n(secrets: hint: .+\n)?$/);
  assert.doesNotMatch(r.stderr, STACK);
  if (pattern) assert.match(r.stderr, pattern);
}

describe('init', () => {
  test('creates a private vault and identity, refuses a second init (exit 4), reuses the identity for a new vault', async () => {
    const sb = sandbox();
    try {
      const first = await sb.run(['init', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const info = JSON.parse(first.stdout) as { IdentityId: string; IdentityCreated: boolean; IdentitySource: string; Path: string };
      assert.equal(info.IdentityCreated, true);
      assert.equal(info.IdentitySource, 'fallback-file');
      assert.equal(info.Path, sb.vault);
      assert.match(first.stderr, /secrets: warning: no OS keychain is reachable \(.+\)/);
      assert.equal(statSync(sb.vault).mode & 0o777, 0o600);
      assert.equal(statSync(join(sb.home, '.config/secrets/identity.key')).mode & 0o777, 0o600);
      const before = readFileSync(sb.vault);
      assertUserError(await sb.run(['init']), 4, /already exists/);
      assert.deepEqual(readFileSync(sb.vault), before);
      const other = join(sb.home, 'team', 'vault.yaml');
      const second = JSON.parse(await sb.ok(['--vault', other, 'init', '--json'])) as { IdentityId: string; IdentityCreated: boolean };
      assert.equal(second.IdentityCreated, false);
      assert.equal(second.IdentityId, info.IdentityId);
      assert.ok(existsSync(other));
    } finally {
      sb.cleanup();
    }
  });

  test('a command before init says how to start, exit 3 for a missing vault', async () => {
    const sb = sandbox({ SECRETS_IDENTITY_KEY: `SECRETS-KEY-1${randomBytes(32).toString('base64url')}` });
    try {
      assertUserError(await sb.run(['get', 'x']), 3, /no vault at .*\n.*secrets init/);
    } finally {
      sb.cleanup();
    }
  });
});

describe('secret lifecycle', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
  });
  after(() => sb.cleanup());

  test('create from stdin removes one trailing newline; get prints the exact value without a newline on a pipe', async () => {
    await sb.ok(['create', 'app/token', '--value-stdin', '--description', 'API token', '--tag', 'env=prod', '--tag', 'team=core'], {
      input: 'line one\nline two\n\n',
    });
    const r = await sb.run(['get', 'app/token']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'line one\nline two\n');
  });

  test('--from-file keeps exact bytes; non-UTF-8 becomes a binary secret shown as SecretBinary', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80]), randomBytes(300)]);
    const file = join(sb.home, 'blob.bin');
    writeFileSync(file, bytes);
    await sb.ok(['create', 'certs/blob', '--from-file', file]);
    const r = await sb.run(['get', 'certs/blob']);
    assert.deepEqual(r.stdoutBytes, bytes);
    const json = JSON.parse(await sb.ok(['get', 'certs/blob', '--json'])) as Record<string, unknown>;
    assert.equal(json['SecretBinary'], bytes.toString('base64'));
    assert.equal(json['SecretString'], undefined);
    const text = join(sb.home, 'text.txt');
    writeFileSync(text, 'exact\n\n');
    await sb.ok(['create', 'text/file', '--from-file', text]);
    assert.equal(await sb.ok(['get', 'text/file']), 'exact\n\n');
  });

  test('--generate uses the random options', async () => {
    await sb.ok(['create', 'gen/pw', '--generate', '--length', '20', '--exclude-punctuation']);
    const pw = await sb.ok(['get', 'gen/pw']);
    assert.match(pw, /^[A-Za-z0-9]{20}$/);
  });

  test('--field reads a key of a JSON secret; errors are clear and carry no value', async () => {
    await sb.ok(['create', 'prod/db', '--value-stdin'], { input: JSON.stringify({ username: 'app', password: 's3cret-pw', port: 5432 }) });
    assert.equal(await sb.ok(['get', 'prod/db', '--field', 'password']), 's3cret-pw');
    assert.equal(await sb.ok(['get', 'prod/db', '--field', 'port']), '5432');
    const missing = await sb.run(['get', 'prod/db', '--field', 'nope']);
    assertUserError(missing, 3, /no field "nope"/);
    assert.doesNotMatch(missing.stderr, /s3cret-pw/);
    assertUserError(await sb.run(['get', 'app/token', '--field', 'x']), 2, /not a JSON object/);
  });

  test('get --json has the AWS shape', async () => {
    const json = JSON.parse(await sb.ok(['get', 'app/token', '--json'])) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['Name', 'VersionId', 'SecretString', 'VersionStages', 'CreatedDate']);
    assert.equal(json['Name'], 'app/token');
    assert.equal(json['SecretString'], 'line one\nline two\n');
    assert.deepEqual(json['VersionStages'], ['CURRENT']);
    assert.ok(!Number.isNaN(Date.parse(json['CreatedDate'] as string)));
  });

  test('put moves CURRENT and PREVIOUS; custom labels leave CURRENT alone', async () => {
    const v1 = (JSON.parse(await sb.ok(['get', 'app/token', '--json'])) as { VersionId: string }).VersionId;
    const v2 = JSON.parse(await sb.ok(['put', 'app/token', '--value-stdin', '--json'], { input: 'two' })) as { VersionId: string; VersionStages: string[] };
    assert.deepEqual(v2.VersionStages, ['CURRENT']);
    assert.equal(await sb.ok(['get', 'app/token']), 'two');
    assert.equal(await sb.ok(['get', 'app/token', '--version-stage', 'PREVIOUS']), 'line one\nline two\n');
    assert.equal(await sb.ok(['get', 'app/token', '--version-id', v1]), 'line one\nline two\n');
    const v3 = JSON.parse(await sb.ok(['put', 'app/token', '--value-stdin', '--version-stage', 'PENDING', '--json'], { input: 'three' })) as {
      VersionId: string;
      VersionStages: string[];
    };
    assert.deepEqual(v3.VersionStages, ['PENDING']);
    assert.equal(await sb.ok(['get', 'app/token']), 'two');
    assert.equal(await sb.ok(['get', 'app/token', '--version-stage', 'PENDING']), 'three');
    const versions = JSON.parse(await sb.ok(['versions', 'app/token', '--json'])) as { Versions: { VersionId: string; VersionStages: string[] }[] };
    assert.deepEqual(
      versions.Versions.map((v) => [v.VersionId, v.VersionStages]),
      [
        [v3.VersionId, ['PENDING']],
        [v2.VersionId, ['CURRENT']],
        [v1, ['PREVIOUS']],
      ],
    );
    assertUserError(await sb.run(['get', 'app/token', '--version-stage', 'NOPE']), 3, /no version labelled NOPE/);
    assertUserError(await sb.run(['get', 'app/token', '--version-id', 'nope-nope']), 3);
    assertUserError(await sb.run(['get', 'app/token', '--version-id', v1, '--version-stage', 'CURRENT']), 2);
  });

  test('stage moves a label; CURRENT pushes PREVIOUS; moving a held label needs --from', async () => {
    const { Versions } = JSON.parse(await sb.ok(['versions', 'app/token', '--json'])) as { Versions: { VersionId: string; VersionStages: string[] }[] };
    const pending = Versions.find((v) => v.VersionStages.includes('PENDING'))?.VersionId as string;
    const current = Versions.find((v) => v.VersionStages.includes('CURRENT'))?.VersionId as string;
    assertUserError(await sb.run(['stage', 'app/token', 'CURRENT', '--to', pending]), 4, /--from/);
    await sb.ok(['stage', 'app/token', 'CURRENT', '--to', pending, '--from', current]);
    assert.equal(await sb.ok(['get', 'app/token']), 'three');
    assert.equal(await sb.ok(['get', 'app/token', '--version-stage', 'PREVIOUS']), 'two');
    await sb.ok(['stage', 'app/token', 'PENDING', '--from', pending]);
    assertUserError(await sb.run(['get', 'app/token', '--version-stage', 'PENDING']), 3);
    await sb.ok(['stage', 'app/token', 'blue', '--to', current]);
    assert.equal(await sb.ok(['get', 'app/token', '--version-stage', 'blue']), 'two');
  });

  test('client request tokens make writes idempotent', async () => {
    const token = 'a1b2c3d4-e5f6-4711-8899-aabbccddeeff';
    const first = JSON.parse(await sb.ok(['put', 'gen/pw', '--value-stdin', '--client-request-token', token, '--json'], { input: 'same' })) as {
      VersionId: string;
    };
    assert.equal(first.VersionId, token);
    const again = JSON.parse(await sb.ok(['put', 'gen/pw', '--value-stdin', '--client-request-token', token, '--json'], { input: 'same' })) as {
      Unchanged?: boolean;
    };
    assert.equal(again.Unchanged, true);
    const { Versions } = JSON.parse(await sb.ok(['versions', 'gen/pw', '--json'])) as { Versions: unknown[] };
    assert.equal(Versions.length, 2);
    assertUserError(await sb.run(['put', 'gen/pw', '--value-stdin', '--client-request-token', token], { input: 'different' }), 4, /different value/);
    assertUserError(await sb.run(['put', 'gen/pw', '--value-stdin', '--client-request-token', 'short'], { input: 'x' }), 2);
  });

  test('update changes the description and/or value; describe shows metadata', async () => {
    await sb.ok(['update', 'prod/db', '--description', 'main database']);
    await sb.ok(['update', 'app/token', '--value-stdin'], { input: 'four' });
    assert.equal(await sb.ok(['get', 'app/token']), 'four');
    const d = JSON.parse(await sb.ok(['describe', 'prod/db', '--json'])) as Record<string, unknown>;
    assert.equal(d['Name'], 'prod/db');
    assert.equal(d['Description'], 'main database');
    assert.deepEqual(d['Tags'], []);
    assert.equal(Object.keys(d['VersionIdsToStages'] as object).length, 1);
    assertUserError(await sb.run(['update', 'prod/db']), 2, /nothing to update/);
  });

  test('tag and untag; limits on tags, names and value size', async () => {
    await sb.ok(['tag', 'prod/db', 'env=prod', 'owner=dba']);
    await sb.ok(['untag', 'prod/db', 'owner', 'absent']);
    const d = JSON.parse(await sb.ok(['describe', 'prod/db', '--json'])) as { Tags: unknown };
    assert.deepEqual(d.Tags, [{ Key: 'env', Value: 'prod' }]);
    const many = Array.from({ length: 50 }, (_, i) => `k${i}=v`);
    assertUserError(await sb.run(['tag', 'prod/db', ...many]), 2, /at most 50 tags/);
    assertUserError(await sb.run(['tag', 'prod/db', 'novalue']), 2, /KEY=VALUE/);
    for (const bad of ['', 'a//b', '/lead', 'trail/', 'a/../b', 'sp ace', 'x'.repeat(257)]) {
      assertUserError(await sb.run(['create', bad, '--value-stdin'], { input: 'v' }), 2, /invalid secret name/);
    }
    assertUserError(await sb.run(['create', 'big', '--value-stdin'], { input: 'x'.repeat(64 * 1024 + 1) }), 2, /limit is 65536/);
    await sb.ok(['create', 'max', '--value-stdin'], { input: 'x'.repeat(64 * 1024) });
    assertUserError(await sb.run(['create', 'prod/db', '--value-stdin'], { input: 'v' }), 4, /already exists/);
  });

  test('list filters on name, description, tag-key, tag-value and all; ! negates', async () => {
    const names = async (...filters: string[]): Promise<string[]> => {
      const args = ['list', '--json', ...filters.flatMap((f) => ['--filter', f])];
      return (JSON.parse(await sb.ok(args)) as { SecretList: { Name: string }[] }).SecretList.map((s) => s.Name);
    };
    assert.deepEqual(await names('name=prod/'), ['prod/db']);
    assert.deepEqual(await names('name=app', 'name=gen'), ['app/token', 'gen/pw']);
    assert.deepEqual(await names('tag-key=env'), ['app/token', 'prod/db']);
    assert.deepEqual(await names('tag-value=prod', 'name=!app'), ['prod/db']);
    assert.deepEqual(await names('description=main'), ['prod/db']);
    assert.deepEqual(await names('all=core'), ['app/token']);
    assertUserError(await sb.run(['list', '--filter', 'colour=red']), 2, /invalid filter/);
    const plain = await sb.ok(['list']);
    assert.deepEqual(plain.trim().split('\n'), ['app/token', 'certs/blob', 'gen/pw', 'max', 'prod/db', 'text/file']);
  });

  test('delete with a recovery window, restore, and --force', async () => {
    assertUserError(await sb.run(['delete', 'gen/pw']), 2, /--yes/);
    assertUserError(await sb.run(['delete', 'gen/pw', '--yes', '--recovery-window-days', '6']), 2, /7 to 30/);
    const r = JSON.parse(await sb.ok(['delete', 'gen/pw', '--yes', '--recovery-window-days', '7', '--json'])) as { DeletionDate: string };
    const days = (Date.parse(r.DeletionDate) - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7, `deletion in ${days} days`);
    assertUserError(await sb.run(['get', 'gen/pw']), 3, /scheduled for deletion.*\n.*secrets restore gen\/pw/);
    assert.ok(!(await sb.ok(['list'])).includes('gen/pw'));
    assert.ok((await sb.ok(['list', '--include-deleted'])).includes('gen/pw'));
    assertUserError(await sb.run(['create', 'gen/pw', '--value-stdin'], { input: 'x' }), 4, /scheduled for deletion/);
    await sb.ok(['restore', 'gen/pw']);
    assert.equal(await sb.ok(['get', 'gen/pw']), 'same');
    assertUserError(await sb.run(['restore', 'gen/pw']), 4);
    await sb.ok(['delete', 'gen/pw', '--force', '--yes']);
    assertUserError(await sb.run(['get', 'gen/pw']), 3, /not found/);
    assertUserError(await sb.run(['restore', 'gen/pw']), 3);
    await sb.ok(['create', 'gen/pw', '--value-stdin'], { input: 'new life' });
    assert.equal(await sb.ok(['get', 'gen/pw']), 'new life');
  });

  test('doctor reports the fallback identity and verifies every record', async () => {
    const r = await sb.run(['doctor', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const checks = (JSON.parse(r.stdout) as { Checks: { Name: string; Status: string; Detail: string }[] }).Checks;
    const byName = new Map(checks.map((c) => [c.Name, c]));
    assert.equal(byName.get('identity')?.Status, 'warn');
    assert.match(byName.get('identity')?.Detail ?? '', /UNENCRYPTED/);
    assert.equal(byName.get('integrity')?.Status, 'ok');
    assert.equal(byName.get('permissions')?.Status, 'ok');
  });
});

describe('usage errors', () => {
  test('no value source on a pipe names the flags; two sources are refused; unknown commands suggest', async () => {
    const sb = await initialisedSandbox();
    try {
      assertUserError(await sb.run(['create', 'x']), 2, /--value-stdin/);
      assertUserError(await sb.run(['create', 'x', '--value-stdin', '--generate'], { input: 'v' }), 2, /one value source/);
      const typo = await sb.run(['crate', 'x']);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /secrets: error: unknown command 'crate'/);
      assert.match(typo.stderr, /create/);
      const bad = await sb.run(['get']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /missing required argument/);
      assert.doesNotMatch(bad.stderr, STACK);
    } finally {
      sb.cleanup();
    }
  });
});

describe('random', () => {
  test('AWS GetRandomPassword semantics', async () => {
    const sb = sandbox();
    try {
      const pw = await sb.ok(['random']);
      assert.equal(pw.length, 32);
      assert.match(pw, /[a-z]/);
      assert.match(pw, /[A-Z]/);
      assert.match(pw, /[0-9]/);
      assert.match(pw, /[^A-Za-z0-9]/);
      assert.match(await sb.ok(['random', '--length', '64', '--exclude-numbers', '--exclude-punctuation', '--exclude-uppercase']), /^[a-z]{64}$/);
      assert.match(await sb.ok(['random', '--exclude-characters', 'abcdefghijklmnopqrstuvwxyz', '--exclude-punctuation']), /^[A-Z0-9]{32}$/);
      assert.match(await sb.ok(['random', '--length', '200', '--include-space']), / /);
      const json = JSON.parse(await sb.ok(['random', '--json', '--length', '8'])) as { RandomPassword: string };
      assert.equal(json.RandomPassword.length, 8);
      assertUserError(await sb.run(['random', '--length', '0']), 2);
      assertUserError(await sb.run(['random', '--length', '3']), 2, /too short/);
      assertUserError(
        await sb.run(['random', '--exclude-numbers', '--exclude-punctuation', '--exclude-uppercase', '--exclude-lowercase']),
        2,
        /every character/,
      );
    } finally {
      sb.cleanup();
    }
  });
});

describe('init flags', () => {
  test('a vault or member name that the file format would refuse is a usage error, and nothing is written', async () => {
    const sb = sandbox();
    try {
      const r1 = await sb.run(['init', '--name', 'x'.repeat(257)]);
      assert.equal(r1.code, 2, r1.stderr);
      assert.match(r1.stderr, /--name must be 1-256 characters/);
      const r2 = await sb.run(['init', '--member-name', 'tab\there']);
      assert.equal(r2.code, 2, r2.stderr);
      assert.equal(existsSync(sb.vault), false);
      // Policies match member names, so a name is a simple token (no spaces or wildcards).
      const r3 = await sb.run(['init', '--member-name', 'Ada Lovelace']);
      assert.equal(r3.code, 2, r3.stderr);
      assert.match(r3.stderr, /hint: member names are 1-64 characters/);
      assert.equal(existsSync(sb.vault), false);
      await sb.ok(['init', '--name', 'team vault', '--member-name', 'ada.lovelace']);
      await sb.ok(['create', 'x', '--value-stdin'], { input: 'v' });
      assert.equal(await sb.ok(['get', 'x']), 'v');
    } finally {
      sb.cleanup();
    }
  });
});
