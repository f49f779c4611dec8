// The golden vault of format 1 (test/fixtures/vault-format-v1, made once by
// scripts/gen-format-fixtures.mjs): the current code must open the committed file from a fresh
// HOME (a first contact, trusted on first use) and give back exactly the committed values,
// stages, members and policies, and `verify` must pass. Any change to a signature domain, the
// AAD, the key derivation or an encoding (base64 alphabet, canonical JSON order, framing) makes
// these files unreadable, and so fails here. The same files are what a future format must
// migrate.
//
// A second part checks the file against docs/vault-format.md with code of its own (node:crypto,
// not src/): canonical lines, canonical base64, the head digest and every record's Ed25519
// signature over its framed canonical bytes, so the documented format and the code cannot drift
// apart together.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, ROOT, type Sandbox, sandbox } from './support/cli.js';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'vault-format-v1');

interface Version {
  Name: string;
  VersionId: string;
  VersionStages: string[];
  CreatedDate: string;
  SecretString?: string;
  SecretBinary?: string;
}
interface Expected {
  now: string;
  vaultName: string;
  vaultId: string;
  identities: Record<'alice' | 'bob' | 'carol', string>;
  members: unknown;
  policies: unknown;
  secrets: { SecretList: Record<string, unknown>[] };
  versions: Version[];
  bob: { reads: string[]; denied: string[] };
  deleted: { Name: string; SecretString: string }[];
}

const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
const fixtureBytes = readFileSync(join(FIXTURE, 'vault.yaml'));

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** This machine's last-read dates depend on its audit log, not on the file. */
function withoutAccessDates(list: { SecretList: Record<string, unknown>[] }): { SecretList: Record<string, unknown>[] } {
  return { SecretList: list.SecretList.map(({ LastAccessedDate: _, ...rest }) => rest) };
}

describe('the golden vault of format 1 opens with the current code', () => {
  let sb: Sandbox;
  let vault: string;
  const keyOf = (who: 'alice' | 'bob'): string => join(sb.home, 'keys', `${who}.key`);
  /** Runs as `who` against the copy, with the clock at the fixture's `now`. */
  const as = (who: 'alice' | 'bob', args: readonly string[], input?: string): Promise<CliResult> =>
    sb.run(args, {
      env: { SECRETS_VAULT: vault, SECRETS_IDENTITY_FILE: keyOf(who), SECRETS_TEST_NOW: expected.now },
      ...(input !== undefined ? { input } : {}),
    });
  const ok = async (who: 'alice' | 'bob', args: readonly string[], input?: string): Promise<string> => {
    const r = await as(who, args, input);
    assert.equal(r.code, 0, explain(`secrets ${args.join(' ')} as ${who}`, r));
    return r.stdout;
  };
  const json = async <T>(who: 'alice' | 'bob', args: readonly string[]): Promise<T> => JSON.parse(await ok(who, [...args, '--json'])) as T;

  before(() => {
    sb = sandbox();
    mkdirSync(join(sb.home, 'fixture'));
    mkdirSync(join(sb.home, 'keys'), { mode: 0o700 });
    vault = join(sb.home, 'fixture', 'vault.yaml');
    copyFileSync(join(FIXTURE, 'vault.yaml'), vault);
    for (const who of ['alice', 'bob'] as const) copyFileSync(join(FIXTURE, `${who}.key`), keyOf(who));
  });
  after(() => sb?.cleanup());

  it('verify passes, and every version gives exactly its committed value, type and stages', async () => {
    const v = await as('alice', ['verify']);
    assert.equal(v.code, 0, explain('verify', v));
    for (const want of expected.versions) {
      const got = await json<Version>('alice', ['get', want.Name, '--version-id', want.VersionId]);
      assert.deepEqual(got, want, `${want.Name} ${want.VersionId}`);
      for (const stage of want.VersionStages) {
        const byStage = await json<Version>('alice', ['get', want.Name, '--version-stage', stage]);
        assert.equal(byStage.VersionId, want.VersionId, `${want.Name} at ${stage}`);
      }
    }
    // The raw bytes on stdout too, for the binary secret.
    const cert = expected.versions.find((x) => x.Name === 'app/cert');
    assert.ok(cert?.SecretBinary);
    const raw = await as('alice', ['get', 'app/cert']);
    assert.ok(raw.stdoutBytes.equals(Buffer.from(cert.SecretBinary, 'base64')), 'app/cert byte for byte');
  });

  it('the vault id, members (one removed), policies and secrets read as committed', async () => {
    assert.equal((await json<{ VaultId: string }>('alice', ['status'])).VaultId, expected.vaultId);
    assert.deepEqual(await json('alice', ['member', 'list', '--removed']), expected.members);
    assert.deepEqual(await json('alice', ['policy', 'list']), expected.policies);
    assert.deepEqual(withoutAccessDates(await json('alice', ['list', '--include-deleted'])), withoutAccessDates(expected.secrets));
  });

  it('bob reads what his identity policy and the resource policy allow, and nothing else', async () => {
    for (const name of expected.bob.reads) {
      const want = expected.versions.find((x) => x.Name === name && x.VersionStages.includes('CURRENT'));
      assert.equal((await json<Version>('bob', ['get', name])).SecretString, want?.SecretString, name);
    }
    for (const name of expected.bob.denied) {
      const r = await as('bob', ['get', name]);
      assert.equal(r.code, 5, explain(`bob reads ${name}: DENIED`, r));
      assert.equal(r.stdout, '');
    }
  });

  it('reads leave the file byte for byte as committed', () => {
    assert.ok(readFileSync(vault).equals(fixtureBytes), 'no read rewrote the vault');
  });

  it('a write is refused, by the installed command too: exit 4, the way out named, the file as committed', async () => {
    const deleted = expected.deleted[0];
    assert.ok(deleted);
    const writes: [string[], string | undefined][] = [
      [['restore', deleted.Name], undefined],
      [['put', 'app/token', '--value-stdin'], 'after the fixture'],
      [['tag', 'app/db', 'k=v'], undefined],
    ];
    for (const [args, input] of writes) {
      const r = await as('alice', args, input);
      assert.equal(r.code, 4, explain(`secrets ${args.join(' ')}`, r));
      assert.match(r.stderr, /a vault of format 1, which this version reads but no longer writes/);
      assert.match(r.stderr, /secrets migrate/);
    }
    // The installed command (no test hooks, no fixed clock) refuses alike.
    const plain = await sb.run(['put', 'app/token', '--value-stdin'], {
      env: { SECRETS_VAULT: vault, SECRETS_IDENTITY_FILE: keyOf('alice') },
      input: 'after the fixture',
    });
    assert.equal(plain.code, 4, explain('put with the installed command', plain));
    assert.ok(readFileSync(vault).equals(fixtureBytes), 'no refused write touched the vault');
    const doctor = await json<{ Checks: { Name: string; Status: string; Detail: string }[] }>('alice', ['doctor']);
    const format = doctor.Checks.find((c) => c.Name === 'format');
    assert.equal(format?.Status, 'warn');
    assert.match(format.Detail, /secrets migrate/);
  });

  it('secrets migrate converts it: every committed value, stage, member and policy reads the same, and writes work again', async () => {
    await ok('alice', ['migrate', '--yes']);
    assert.match(readFileSync(vault, 'utf8').split('\n')[0] ?? '', /^# secrets vault, format 2\./);
    assert.equal((await as('alice', ['verify'])).code, 0);
    for (const want of expected.versions) {
      assert.deepEqual(await json<Version>('alice', ['get', want.Name, '--version-id', want.VersionId]), want, `${want.Name} ${want.VersionId}`);
    }
    assert.deepEqual(await json('alice', ['member', 'list', '--removed']), expected.members);
    // A policy's last change is the migration's (format 1's dates of policies are not carried).
    type Policies = { Policies: { LastChangedDate: string }[] };
    const policies = await json<Policies>('alice', ['policy', 'list']);
    for (const p of policies.Policies) assert.match(p.LastChangedDate, /^\d{4}-\d\d-\d\dT/);
    const undated = (x: Policies) => x.Policies.map(({ LastChangedDate: _, ...rest }) => rest);
    assert.deepEqual(undated(policies), undated(expected.policies as Policies));
    for (const name of expected.bob.reads) assert.equal((await as('bob', ['get', name])).code, 0, `bob reads ${name}`);
    for (const name of expected.bob.denied) assert.equal((await as('bob', ['get', name])).code, 5, `bob is denied ${name}`);
    const deleted = expected.deleted[0];
    assert.ok(deleted);
    await ok('alice', ['restore', deleted.Name]);
    assert.equal(await ok('alice', ['get', deleted.Name]), deleted.SecretString);
    await ok('alice', ['put', 'app/token', '--value-stdin'], 'after the migration');
    assert.equal(await ok('alice', ['get', 'app/token']), 'after the migration');
    assert.equal((await as('alice', ['verify'])).code, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// docs/vault-format.md, checked with code independent of src/.

/** Canonical JSON as documented: `kind` first, other keys in UTF-16 order, at every depth. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort((a, b) => (a === 'kind' ? -1 : b === 'kind' ? 1 : a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** u32be(len) ‖ bytes, per part. */
function frame(parts: readonly string[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const b = Buffer.from(p, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }),
  );
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const BASE64_FIELDS = ['enc', 'sign', 'sig', 'n', 'ct'];

describe('the golden vault matches docs/vault-format.md', () => {
  const text = fixtureBytes.toString('utf8');
  const lines = text.split('\n');

  it('header, final newline, canonical lines and canonical standard base64', () => {
    assert.equal(lines[0], '# secrets vault, format 1. Managed by the secrets CLI; do not edit by hand.');
    assert.equal(lines.at(-1), '', 'ends with a newline');
    for (const line of lines.slice(1, -1)) {
      assert.ok(line.startsWith('- {'), line.slice(0, 40));
      const record = JSON.parse(line.slice(2)) as Record<string, unknown>;
      assert.equal(line.slice(2), canonical(record), `canonical: ${line.slice(0, 60)}`);
      const b64: string[] = BASE64_FIELDS.flatMap((f) => {
        const v = record[f];
        return typeof v === 'string' ? [v] : [];
      });
      if (record['keys'] !== undefined) b64.push(...Object.values(record['keys'] as Record<string, string>));
      for (const s of b64) assert.equal(Buffer.from(s, 'base64').toString('base64'), s, `canonical standard base64: ${s.slice(0, 20)}`);
    }
  });

  it('the head digest is SHA-256 of every other record line, and every record is signed over frame("secrets-record-v1", vault id, canonical)', () => {
    const recordLines = lines.slice(1, -1);
    const records = recordLines.map((l) => JSON.parse(l.slice(2)) as Record<string, unknown>);
    const head = records.find((r) => r['kind'] === 'head');
    const digest = createHash('sha256')
      .update(
        recordLines
          .filter((l) => !l.startsWith('- {"kind":"head"'))
          .map((l) => `${l}\n`)
          .join(''),
      )
      .digest('hex');
    assert.equal(head?.['digest'], digest);
    const vaultId = records[0]?.['id'] as string;
    assert.equal(vaultId, expected.vaultId);
    const signKeys = new Map(records.filter((r) => r['kind'] === 'member').map((m) => [m['id'] as string, Buffer.from(m['sign'] as string, 'base64')]));
    for (const r of records) {
      const { sig, ...unsigned } = r;
      const key = signKeys.get(r['by'] as string);
      assert.ok(key, `the writer ${String(r['by'])} is a member`);
      const pub = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' });
      const ok = verify(null, frame(['secrets-record-v1', vaultId, canonical(unsigned)]), pub, Buffer.from(sig as string, 'base64'));
      assert.ok(ok, `the signature of ${recordLines[records.indexOf(r)]?.slice(0, 80) ?? ''}`);
    }
  });
});
