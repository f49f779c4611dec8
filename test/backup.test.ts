// `secrets export --format backup` and `secrets import --format backup`, through the built
// binary: a full round trip (descriptions, tags, every version with its labels, a binary
// secret, rotation settings), to an identity and to a passphrase; and every way a restore must
// fail (wrong passphrase, wrong identity, a tampered or forged file, names that exist) exits
// with its code and leaves the vault byte for byte as it was.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, initialisedSandbox, marker, type Sandbox } from './support/cli.js';

const BINARY = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0x0d, 0x00, 0x7f]);

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}, got ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /^secrets: error: /m, `${what}: an error message`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

/** What a restore must reproduce: metadata, each version's labels and date, each value. */
async function snapshot(sb: Sandbox, names: readonly string[], prefix = ''): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const name of names) {
    const d = JSON.parse(await sb.ok(['describe', `${prefix}${name}`, '--json'])) as Record<string, unknown>;
    const v = JSON.parse(await sb.ok(['versions', `${prefix}${name}`, '--json'])) as {
      Versions: { VersionId: string; VersionStages: string[]; CreatedDate: string }[];
    };
    const values: string[] = [];
    for (const version of v.Versions)
      values.push((await sb.run(['get', `${prefix}${name}`, '--version-id', version.VersionId])).stdoutBytes.toString('base64'));
    out.push({
      Description: d['Description'],
      Tags: d['Tags'],
      CreatedDate: d['CreatedDate'],
      VersionIdsToStages: d['VersionIdsToStages'],
      RotationEnabled: d['RotationEnabled'],
      RotationHandler: d['RotationHandler'],
      RotationRules: d['RotationRules'],
      NextRotationDate: d['NextRotationDate'],
      Versions: v.Versions,
      values,
    });
  }
  return out;
}

describe('backup: export --format backup, import --format backup', () => {
  let sb: Sandbox;
  let other: Sandbox;
  const mark = marker();
  const NAMES = ['app/db', 'app/cert', 'app/plain'];
  let original: unknown[];
  let passFile: string;
  let byPassphrase: string;
  let byIdentity: string;

  before(async () => {
    sb = await initialisedSandbox();
    other = await initialisedSandbox();
    await sb.ok(['create', 'app/db', '--value-stdin', '--description', 'primary database', '--tag', 'env=prod', '--tag', 'team=payments'], {
      input: `${mark.value}-1`,
    });
    await sb.ok(['put', 'app/db', '--value-stdin'], { input: `${mark.value}-2` });
    await sb.ok(['put', 'app/db', '--value-stdin', '--version-stage', 'CANARY'], { input: `${mark.value}-3` });
    await sb.ok(['put', 'app/db', '--value-stdin'], { input: `${mark.value}-4` });
    await sb.ok(['rotate', 'app/db', '--handler', 'password', '--every', '30', '--window', '4h', '--no-rotate-now']);
    const bin = join(sb.home, 'cert.der');
    writeFileSync(bin, BINARY);
    await sb.ok(['create', 'app/cert', '--from-file', bin, '--tag', 'kind=cert']);
    await sb.ok(['create', 'app/plain', '--value-stdin'], { input: 'x' });
    await sb.ok(['create', 'other/left-out', '--value-stdin'], { input: 'y' });
    original = await snapshot(sb, NAMES);
    passFile = join(sb.home, 'pass');
    writeFileSync(passFile, 'correct horse battery staple\n');
    writeFileSync(join(other.home, 'pass'), 'correct horse battery staple\n');
    const p = await sb.run(['export', '--format', 'backup', '--filter', 'name=app/', '--passphrase-file', passFile]);
    assert.equal(p.code, 0, p.stderr);
    byPassphrase = p.stdout;
    const self = (await sb.ok(['identity', 'show'])).trim();
    const i = await sb.run(['export', '--format', 'backup', '--filter', 'name=app/', '--to', self]);
    assert.equal(i.code, 0, i.stderr);
    byIdentity = i.stdout;
  });
  after(() => {
    sb.cleanup();
    other.cleanup();
  });

  test('the file holds no value in clear, and says what it holds on stderr only', () => {
    for (const file of [byPassphrase, byIdentity]) {
      assert.match(file, /^secrets-backup-1\n/);
      for (const e of mark.encodings) assert.ok(!file.includes(e), 'no value, in any encoding');
      assert.ok(!file.includes('primary database') && !file.includes('payments'), 'no metadata in clear');
    }
  });

  test('a passphrase backup restores into another vault: descriptions, tags, every version with its labels and date, a binary value, rotation settings', async () => {
    const file = join(other.home, 'vault.backup');
    writeFileSync(file, byPassphrase);
    const r = await other.run(['import', '--format', 'backup', '--passphrase-file', join(other.home, 'pass'), file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { Created: 3, Versions: 6, Names: [...NAMES].sort() });
    assert.deepEqual(await snapshot(other, NAMES), original);
    assert.equal((await other.run(['get', 'app/cert'])).stdoutBytes.toString('hex'), BINARY.toString('hex'));
    assert.equal((await other.run(['get', 'other/left-out'])).code, 3, '--filter left it out');
    assert.equal((await other.run(['verify'])).code, 0, 'the restored records verify');
  });

  test('an identity backup restores with that identity, beside the originals with --prefix (the backup from stdin)', async () => {
    const r = await sb.run(['import', '--format', 'backup', '--prefix', 'restored/', '-'], { input: byIdentity });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Restored 3 secret\(s\) with 6 version\(s\)/);
    assert.deepEqual(await snapshot(sb, NAMES, 'restored/'), original);
  });

  test('names that exist: exit 4, nothing written', async () => {
    const before = readFileSync(sb.vault);
    const r = await sb.run(['import', '--format', 'backup', '-'], { input: byIdentity });
    assertExit(r, 4, 'existing names');
    assert.match(r.stderr, /3 secret\(s\) of the backup already exist: app\/cert, app\/db, app\/plain/);
    assert.match(r.stderr, /hint: .*--prefix/);
    assert.deepEqual(readFileSync(sb.vault), before);
  });

  test('wrong passphrase, wrong identity, a tampered file, a forged file: exit 6, nothing written, no value printed', async () => {
    const wrongPass = join(other.home, 'wrong');
    writeFileSync(wrongPass, 'correct horse battery stapler\n');
    const flip = (text: string, line: number, at: number): string => {
      const lines = text.split('\n');
      const l = lines[line] as string;
      const i = Math.min(at, l.length - 3);
      lines[line] = `${l.slice(0, i)}${l[i] === 'A' ? 'B' : 'A'}${l.slice(i + 1)}`;
      return lines.join('\n');
    };
    // A file sealed to this vault's identity by someone else (other's identity signs it).
    const self = (await sb.ok(['identity', 'show'])).trim();
    await other.ok(['create', 'planted/x', '--value-stdin'], { input: 'attacker value' });
    const forged = await other.ok(['export', '--format', 'backup', '--filter', 'name=planted/', '--to', self]);
    const cases: [string, Sandbox, string, string[]][] = [
      ['wrong passphrase', other, byPassphrase, ['--passphrase-file', wrongPass, '--prefix', 'w/']],
      ['wrong identity', other, byIdentity, ['--prefix', 'w/']],
      ['tampered body', sb, flip(byIdentity, 2, 100), ['--prefix', 'w/']],
      ['tampered header (nonce)', sb, byIdentity.replace(/"nonce":"(.)/, (_m, c: string) => `"nonce":"${c === 'A' ? 'B' : 'A'}`), ['--prefix', 'w/']],
      ['tampered signature', sb, flip(byIdentity, 3, 10), ['--prefix', 'w/']],
      ['tampered passphrase body', other, flip(byPassphrase, 2, 50), ['--passphrase-file', join(other.home, 'pass'), '--prefix', 'w/']],
      ['truncated', sb, byIdentity.slice(0, byIdentity.length - 40), ['--prefix', 'w/']],
      ['not a backup', sb, '{"Name": "x"}\n', ['--prefix', 'w/']],
      ['sealed to us, signed by a stranger', sb, forged, []],
    ];
    for (const [what, box, input, args] of cases) {
      const before = readFileSync(box.vault);
      const r = await box.run(['import', '--format', 'backup', ...args, '-'], { input });
      assertExit(r, 6, what);
      assert.deepEqual(readFileSync(box.vault), before, `${what}: the vault is unchanged`);
      for (const e of mark.encodings) assert.ok(!r.stderr.includes(e) && !r.stdout.includes(e), `${what}: no value printed`);
    }
  });

  test('usage: exactly one way to lock; backup flags only with --format backup; a malformed identity', async () => {
    const self = (await sb.ok(['identity', 'show'])).trim();
    assertExit(await sb.run(['export', '--format', 'backup']), 2, 'no lock');
    assertExit(await sb.run(['export', '--format', 'backup', '--to', self, '--passphrase-file', passFile]), 2, 'two locks');
    assertExit(await sb.run(['export', '--format', 'json', '--to', self, '--yes']), 2, '--to without backup');
    assertExit(await sb.run(['export', '--format', 'backup', '--to', `${self.slice(0, -2)}xx`]), 2, 'a typo in the identity');
    assertExit(await sb.run(['import', '--format', 'dotenv', '--passphrase-file', passFile, '-'], { input: 'A=1\n' }), 2, '--passphrase-file without backup');
    assertExit(await sb.run(['export', '--format', 'backup', '--passphrase']), 2, 'a passphrase prompt without a terminal');
  });
});
