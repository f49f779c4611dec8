/**
 * Keys of small order, end to end. With the identity point as an Ed25519 key, the signature
 * (R = B, S = 1) satisfies the verification equation for every message, so whoever gets such a
 * key enrolled can write as that member holding no private key at all; an X25519 key of small
 * order makes every data key sealed to it readable by anyone. `member add` must refuse such
 * identities as bad input (exit 2, the vault untouched), and a vault file that already holds
 * such a member must not take records forged in their name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SecretsError } from '../src/core/errors.js';
import type { Identity } from '../src/core/ports.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { toBase64 } from '../src/crypto/encoding.js';
import { sealValue } from '../src/crypto/envelope.js';
import { decodeKey, decodePublicIdentity, encodePublicIdentity, fingerprint, generateSeed, identityFromSeed } from '../src/crypto/identity.js';
import { canonicalJson } from '../src/store/codec.js';
import { type CliResult, initialisedSandbox, marker, type Sandbox, FORMAT_1 } from './support/cli.js';
import { signRecord } from './support/format1-writer.js';

const P = 2n ** 255n - 19n;

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** The Ed25519 identity point (y = 1) and base point B. */
const IDENTITY = le(1n);
const BASE = fromHex('5866666666666666666666666666666666666666666666666666666666666666');

/** Bad Ed25519 keys: small order (several encodings), non-canonical (y = p + 4, a point of the curve), off the curve. */
const BAD_SIGN: readonly (readonly [string, Uint8Array])[] = [
  ['the identity point', IDENTITY],
  ['the point of order 2', le(P - 1n)],
  ['a point of order 8', fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')],
  ['the identity as y = p + 1', le(P + 1n)],
  ['the identity with the x sign bit set', fromHex('0100000000000000000000000000000000000000000000000000000000000080')],
  ['y = p + 4 (non-canonical)', le(P + 4n)],
  ['y = 2 (off the curve)', le(2n)],
];

/** Bad X25519 keys: small order (several encodings) and non-canonical. */
const BAD_ENC: readonly (readonly [string, Uint8Array])[] = [
  ['u = 0', le(0n)],
  ['u = 1', le(1n)],
  ['a point of order 8', fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')],
  ['u = p (0 again)', le(P)],
  ['u = 0 with bit 255 set', fromHex('0000000000000000000000000000000000000000000000000000000000000080')],
  ['u = p + 3 (non-canonical)', le(P + 3n)],
];

// ---------------------------------------------------------------------------------------------

describe('decodePublicIdentity refuses keys no seed can produce', () => {
  it('a small-order, non-canonical or off-curve signing key, or a small-order or non-canonical encryption key: USAGE', async () => {
    const real = await identityFromSeed(generateSeed());
    for (const [what, sign] of BAD_SIGN) {
      await assert.rejects(decodePublicIdentity(encodePublicIdentity({ enc: real.enc, sign })), (e: unknown) => {
        assert.ok(e instanceof SecretsError, what);
        assert.equal(e.code, 'USAGE', what);
        assert.match(e.message, /signing key .*Ed25519/, what);
        return true;
      });
    }
    for (const [what, enc] of BAD_ENC) {
      await assert.rejects(decodePublicIdentity(encodePublicIdentity({ enc, sign: real.sign })), (e: unknown) => {
        assert.ok(e instanceof SecretsError, what);
        assert.equal(e.code, 'USAGE', what);
        assert.match(e.message, /encryption key .*X25519/, what);
        return true;
      });
    }
  });

  it('every identity made from a seed decodes', async () => {
    for (let i = 0; i < 50; i++) {
      const id = await identityFromSeed(generateSeed());
      assert.equal((await decodePublicIdentity(encodePublicIdentity(id))).id, id.id);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The vault file as an attacker (or an older version of this program) writes it.

type Rec = Record<string, unknown> & { kind: string };

interface VaultText {
  readonly header: string;
  recs: Rec[];
}

function readVault(path: string): VaultText {
  const lines = readFileSync(path, 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  const [header, ...rest] = lines;
  assert.ok(header !== undefined && header.startsWith('#'));
  return { header, recs: rest.map((l) => JSON.parse(l.slice(2)) as Rec) };
}

const lineOf = (rec: Rec): string => `- ${canonicalJson(rec as Parameters<typeof canonicalJson>[0])}`;

function writeVault(path: string, v: VaultText): void {
  writeFileSync(path, `${v.header}\n${v.recs.map((r) => `${lineOf(r)}\n`).join('')}`);
}

function find(v: VaultText, kind: string): Rec {
  const rec = v.recs.find((r) => r.kind === kind);
  assert.ok(rec, `no ${kind} record`);
  return rec;
}

/** The head digest: SHA-256 over every record line but the head's, each with its newline. */
function digestOf(v: VaultText): string {
  const hash = createHash('sha256');
  for (const r of v.recs) if (r.kind !== 'head') hash.update(`${lineOf(r)}\n`);
  return hash.digest('hex');
}

async function signAs(rec: Rec, signer: Identity, vaultId: string): Promise<void> {
  delete rec['sig'];
  rec['by'] = signer.id;
  rec['sig'] = toBase64(await signRecord(signer, vaultId, canonicalJson(rec as Parameters<typeof canonicalJson>[0])));
}

/** Signs as a member whose Ed25519 key is the identity point: no key, the same bytes for every record. */
function forgeAs(rec: Rec, memberId: string): void {
  rec['by'] = memberId;
  const sig = new Uint8Array(64);
  sig.set(BASE, 0);
  sig[32] = 1;
  rec['sig'] = toBase64(sig);
}

/** New head: digest of the file as it now is, `by` with counter `ctr`. */
function bumpHead(v: VaultText, by: string, ctr: number): Rec {
  const head = find(v, 'head');
  head['digest'] = digestOf(v);
  head['ctr'] = ctr;
  head['ctrs'] = { ...(head['ctrs'] as Record<string, number>), [by]: ctr };
  return head;
}

async function adminIdentity(sb: Sandbox): Promise<Identity> {
  const path = join(sb.env['XDG_CONFIG_HOME'] as string, 'secrets', 'identity.key');
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SECRETS-KEY-1'));
  assert.ok(line);
  return identityFromSeed(decodeKey(line, path));
}

/**
 * What `member add mallory … --role admin` wrote before keys were checked: the admin's signed
 * member record for keys mallory chose, with the head re-signed by the admin.
 */
async function enrol(sb: Sandbox, keys: { enc: Uint8Array; sign: Uint8Array }): Promise<string> {
  const admin = await adminIdentity(sb);
  const v = readVault(sb.vault);
  const vaultId = find(v, 'vault')['id'] as string;
  const head = find(v, 'head');
  const ctr = (head['ctr'] as number) + 1;
  const id = await fingerprint(keys.enc, keys.sign);
  const member: Rec = {
    kind: 'member',
    added: new Date().toISOString(),
    ctr,
    enc: toBase64(keys.enc),
    id,
    name: 'mallory',
    roles: ['admin'],
    sign: toBase64(keys.sign),
  };
  await signAs(member, admin, vaultId);
  // Member records come right after the vault record, sorted by id.
  const members = [...v.recs.filter((r) => r.kind === 'member'), member].sort((a, b) => ((a['id'] as string) < (b['id'] as string) ? -1 : 1));
  v.recs = [find(v, 'vault'), ...members, ...v.recs.filter((r) => r.kind !== 'vault' && r.kind !== 'member')];
  await signAs(bumpHead(v, admin.id, ctr), admin, vaultId);
  writeVault(sb.vault, v);
  return id;
}

function assertRefused(r: CliResult, code: number, message: RegExp): void {
  const ctx = `exit ${r.code}, stderr:\n${r.stderr}`;
  assert.equal(r.code, code, ctx);
  assert.equal(r.stdout, '', ctx);
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.match(lines[0] as string, /^secrets: error: /, ctx);
  assert.match(lines[0] as string, message, ctx);
  assert.ok(lines.length <= 2 && (lines.length === 1 || /^secrets: hint: /.test(lines[1] as string)), ctx);
  assert.ok(!/^\s+at /m.test(r.stderr) && !/internal error/i.test(r.stderr), `no stack trace, not an internal error: ${ctx}`);
}

describe('small-order keys against the CLI', { concurrency: 3 }, () => {
  let sb: Sandbox;
  const value = marker();

  before(async () => {
    sb = await initialisedSandbox(FORMAT_1);
    await sb.ok(['create', 'app/db', '--value-stdin'], { input: value.value });
  });
  after(() => sb.cleanup());

  it('member add refuses an identity with a small-order or malformed key: exit 2, the vault file unchanged', async () => {
    const real = await identityFromSeed(generateSeed());
    const cases = [
      ...BAD_SIGN.map(([what, sign]) => [what, encodePublicIdentity({ enc: real.enc, sign })] as const),
      ...BAD_ENC.map(([what, enc]) => [what, encodePublicIdentity({ enc, sign: real.sign })] as const),
      ['both keys of small order', encodePublicIdentity({ enc: le(0n), sign: IDENTITY })] as const,
    ];
    for (const role of ['admin', 'member']) {
      for (const [what, line] of cases) {
        const before = readFileSync(sb.vault);
        const r = await sb.run(['member', 'add', 'mallory', line, '--role', role]);
        assertRefused(r, 2, /not a public identity: its (signing|encryption) key/);
        assert.ok(readFileSync(sb.vault).equals(before), `${what} (--role ${role}): the vault file must not change`);
      }
    }
    assert.doesNotMatch(await sb.ok(['member', 'list']), /mallory/);
  });
});

describe('a vault file that already holds a member with a small-order key', { concurrency: 2 }, () => {
  it('refuses records forged in the name of a member whose signing key is the identity point', async () => {
    const sb = await initialisedSandbox(FORMAT_1);
    try {
      const value = marker();
      await sb.ok(['create', 'app/db', '--value-stdin'], { input: value.value });
      const admin = await adminIdentity(sb);
      // Mallory's encryption key is real (she could read); her signing key needs no secret.
      const mallory = await identityFromSeed(generateSeed());
      const malloryId = await enrol(sb, { enc: mallory.enc, sign: IDENTITY });
      assert.equal(await sb.ok(['get', 'app/db']), value.value, 'the enrolled vault is valid');

      // Mallory writes a new CURRENT version of app/db, sealed to the admin, signed with the universal signature.
      const v = readVault(sb.vault);
      const vaultId = find(v, 'vault')['id'] as string;
      const secret = find(v, 'secret');
      const planted = marker();
      const versionId = '00000000-0000-4000-8000-000000000001';
      const sealed = await sealValue(SecretBytes.fromString(planted.value), { vaultId, secretId: secret['id'] as string, versionId, type: 'string' }, [
        admin,
        mallory,
      ]);
      const version: Rec = {
        kind: 'version',
        act: 'PutSecretValue',
        created: new Date().toISOString(),
        ct: toBase64(sealed.ciphertext),
        ctr: 1,
        id: versionId,
        keys: Object.fromEntries([...sealed.keys].map(([id, key]) => [id, toBase64(key)])),
        n: toBase64(sealed.nonce),
        secret: secret['id'],
        type: 'string',
      };
      forgeAs(version, malloryId);
      const stages = secret['stages'] as Record<string, string>;
      secret['stages'] = { CURRENT: versionId, PREVIOUS: stages['CURRENT'] as string };
      secret['act'] = 'PutSecretValue';
      secret['ctr'] = 1;
      forgeAs(secret, malloryId);
      v.recs.push(version);
      forgeAs(bumpHead(v, malloryId, 1), malloryId);
      writeVault(sb.vault, v);
      const forged = readFileSync(sb.vault);

      const r = await sb.run(['get', 'app/db']);
      assertRefused(r, 6, /signature|forged|altered/);
      assert.ok(!r.stderr.includes(planted.value) && !r.stderr.includes(value.value));
      assertRefused(await sb.run(['put', 'app/db', '--value-stdin'], { input: 'x' }), 6, /signature|forged|altered/);
      assert.ok(readFileSync(sb.vault).equals(forged), 'a refused write leaves the file as it was');
    } finally {
      sb.cleanup();
    }
  });

  it('refuses to seal a data key to a member whose encryption key is of small order: exit 6, nothing written', async () => {
    const sb = await initialisedSandbox(FORMAT_1);
    try {
      await sb.ok(['create', 'app/db', '--value-stdin'], { input: marker().value });
      const mallory = await identityFromSeed(generateSeed());
      await enrol(sb, { enc: le(0n), sign: mallory.sign });
      const before = readFileSync(sb.vault);
      const r = await sb.run(['put', 'app/db', '--value-stdin'], { input: marker().value });
      assertRefused(r, 6, /encryption key of small order/);
      assert.ok(readFileSync(sb.vault).equals(before), 'the vault file must not change');
    } finally {
      sb.cleanup();
    }
  });
});
