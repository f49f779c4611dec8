#!/usr/bin/env node
// Writes the golden vault of format 1 to test/fixtures/vault-format-v1/ (see the README there):
// a vault made by the CLI itself, its members' TEST keys and the values it must give back.
// Run once with `npm run build && node scripts/gen-format-fixtures.mjs`; running it again
// makes a different vault (fresh nonces, data keys, ids, signatures), so the committed files are
// the reference and this script is how they were made, not something the tests run.
//
// It drives the test build (dist/secrets-test-hooks.cjs) with SECRETS_TEST_NOW stepping one
// minute per command, so the dates in the file are fixed and the deleted secret's purge date can
// be pinned by the test that opens it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'secrets-test-hooks.cjs');
const out = join(root, 'test', 'fixtures', 'vault-format-v1');
const START = Date.parse('2026-01-05T09:00:00.000Z');

/** A 32-byte seed that says what it is: these keys protect nothing but this fixture. */
function testSeed(who) {
  const seed = Buffer.alloc(32, '.');
  seed.write(`TEST KEY ${who} fixture v1`);
  return `SECRETS-KEY-1${seed.toString('base64url')}`;
}
const KEYS = { alice: testSeed('alice'), bob: testSeed('bob'), carol: testSeed('carol') };

const home = mkdtempSync(join(tmpdir(), 'secrets-fixture-'));
const vault = join(home, 'vault.yaml');
let minute = 0;
const env = (who) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: home,
  XDG_CONFIG_HOME: join(home, '.config'),
  XDG_DATA_HOME: join(home, '.local', 'share'),
  XDG_STATE_HOME: join(home, '.local', 'state'),
  USER: 'fixture',
  SECRETS_VAULT: vault,
  SECRETS_IDENTITY_KEY: KEYS[who],
  SECRETS_TEST_NOW: new Date(START + 60_000 * minute++).toISOString(),
});

/** Runs one command as `who`; returns stdout, or stops with the command's stderr. */
function secrets(who, args, input) {
  const r = spawnSync(process.execPath, [bundle, ...args], { env: env(who), input: input ?? '', encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`secrets ${args.join(' ')} (as ${who}) exited ${r.status}:\n${r.stderr}`);
    process.exit(1);
  }
  return r.stdout;
}
const json = (who, args, input) => JSON.parse(secrets(who, [...args, '--json'], input));
const publicOf = (who) => json(who, ['identity', 'show']);

try {
  secrets('alice', ['init', '--name', 'format-v1-fixture', '--member-name', 'alice']);
  const bob = publicOf('bob');
  const carol = publicOf('carol');
  secrets('alice', ['member', 'add', 'bob', bob.Identity]);
  secrets('alice', ['member', 'add', 'carol', carol.Identity, '--role', 'admin']);

  // A JSON secret with three versions: CURRENT, PREVIOUS and a custom label on the first.
  const db = [
    { username: 'app', password: 'db-password-v1', port: 5432 },
    { username: 'app', password: 'db-password-v2 é ✓', port: 5432 },
    { username: 'app', password: 'db-password-v3', port: 5433, nested: { hosts: ['a', 'b'] } },
  ].map((v) => JSON.stringify(v));
  const dbV1 = json(
    'alice',
    ['create', 'app/db', '--value-stdin', '--description', 'the app database', '--tag', 'env=prod', '--tag', 'team=core'],
    db[0],
  ).VersionId;
  json('alice', ['put', 'app/db', '--value-stdin'], db[1]);
  // By carol, an admin removed below; as its version id, a client request token.
  json('carol', ['put', 'app/db', '--value-stdin', '--client-request-token', 'fixture-client-request-token-0000000001'], db[2]);
  secrets('alice', ['stage', 'app/db', 'GOLDEN', '--to', dbV1]);
  // A text secret bob reads through an identity policy, a binary one, and one under a resource policy.
  json('alice', ['create', 'app/token', '--value-stdin', '--tag', 'env=prod'], 'token-value-1\nsecond line');
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 167 + 13) & 0xff));
  const binFile = join(home, 'cert.der');
  writeFileSync(binFile, binary);
  json('alice', ['create', 'app/cert', '--from-file', binFile]);
  json('alice', ['create', 'ci/deploy-key', '--value-stdin'], 'deploy-key-value');
  const policy = (statements) => {
    const f = join(home, `policy-${minute}.json`);
    writeFileSync(f, JSON.stringify({ Version: '2012-10-17', Statement: statements }));
    return f;
  };
  secrets('alice', [
    'policy',
    'put',
    'read-app-token',
    '-f',
    policy([{ Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:DescribeSecret'], Resource: 'app/token' }]),
  ]);
  secrets('alice', ['policy', 'attach', 'read-app-token', 'bob']);
  secrets('alice', [
    'policy',
    'put',
    '--secret',
    'ci/deploy-key',
    '-f',
    policy([{ Effect: 'Allow', Principal: { Member: 'bob' }, Action: 'secrets:GetSecretValue', Resource: '*' }]),
  ]);
  // A rotated secret (a RotateSecret version, a rotation map on the record).
  json('alice', ['create', 'svc/password', '--value-stdin'], 'password-before-rotation');
  secrets('alice', ['rotate', 'svc/password', '--handler', 'password', '--every', '30']);
  // A secret scheduled for deletion, and a member removed (their record keeps what they signed).
  json('alice', ['create', 'old/retired', '--value-stdin'], 'retired-value');
  secrets('alice', ['delete', 'old/retired', '--recovery-window-days', '30', '--yes']);
  secrets('alice', ['member', 'remove', 'carol', '--yes', '--confirm-records']);
  const now = new Date(START + 60_000 * minute).toISOString();

  // The expected values, read back through the CLI (as alice, who may read everything).
  const versions = [];
  for (const name of ['app/db', 'app/token', 'app/cert', 'ci/deploy-key', 'svc/password']) {
    const described = json('alice', ['describe', name]);
    for (const [id, stages] of Object.entries(described.VersionIdsToStages)) {
      const v = json('alice', ['get', name, '--version-id', id]);
      versions.push({
        Name: name,
        VersionId: id,
        VersionStages: stages,
        CreatedDate: v.CreatedDate,
        ...(v.SecretString !== undefined ? { SecretString: v.SecretString } : { SecretBinary: v.SecretBinary }),
      });
    }
  }
  // What was read back is what was written (the rotated value is random, so it is only read back).
  const wrote = [...db, 'token-value-1\nsecond line', 'deploy-key-value', 'password-before-rotation'];
  const read = new Set(versions.map((v) => v.SecretString ?? v.SecretBinary));
  for (const v of [...wrote, binary.toString('base64')]) if (!read.has(v)) throw new Error(`value not read back: ${JSON.stringify(v)}`);
  const expected = {
    now,
    vaultName: 'format-v1-fixture',
    vaultId: json('alice', ['status']).VaultId,
    identities: Object.fromEntries(['alice', 'bob', 'carol'].map((who) => [who, publicOf(who).Id])),
    members: json('alice', ['member', 'list', '--removed']),
    policies: json('alice', ['policy', 'list']),
    secrets: json('alice', ['list', '--include-deleted']),
    versions,
    bob: { reads: ['app/token', 'ci/deploy-key'], denied: ['app/db', 'app/cert', 'svc/password'] },
    // Scheduled for deletion: unreadable until restored.
    deleted: [{ Name: 'old/retired', SecretString: 'retired-value' }],
  };
  mkdirSync(out, { recursive: true });
  copyFileSync(vault, join(out, 'vault.yaml'));
  for (const who of ['alice', 'bob', 'carol']) {
    writeFileSync(
      join(out, `${who}.key`),
      `# TEST KEY of ${who}, committed on purpose: it protects nothing but this fixture.\n# secrets identity ${expected.identities[who]}\n${KEYS[who]}\n`,
    );
  }
  writeFileSync(join(out, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
  console.log(`wrote ${out}: ${readFileSync(vault, 'utf8').split('\n').length - 2} records`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
