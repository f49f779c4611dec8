/**
 * Authorization end to end through the built binary (docs/policies.md, docs/security.md, ADR 0006).
 * A vault is created by alice (the creator, admin); bob is a second identity with an identity FILE,
 * a plain member whose rights come from the policies attached to him.
 *
 * "Insider" cases give bob the library internals and his own key, so that nothing in the CLI
 * stops him: he runs the repository's `transact` (which signs every unsigned record with his key
 * and writes a valid head), or edits lines by hand and re-signs them. What must stop him is the
 * reader: every honest command refuses a record whose signer was not allowed to write it (exit 6,
 * naming the line), policy and member records not signed by an admin (exit 6 on every load), and
 * anything signed by a removed member. Refusals print nothing on stdout, no value anywhere, and
 * never rewrite the vault file. Denials by the CLI itself are exit 5 and leave the file as it was.
 */
import { describe, test } from 'node:test';
import { deepEqual, equal, fail, match, ok, rejects } from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliResult, type RunOptions, type Sandbox, FORMAT_1, marker, sandbox } from './support/cli.js';
import { readersOf } from '../src/core/access.js';
import { SecretsError } from '../src/core/errors.js';
import type { MemberRecord, PolicyRecord, SecretEntry, VaultState, VersionRecord } from '../src/core/model.js';
import type { Identity } from '../src/core/ports.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { toBase64 } from '../src/crypto/encoding.js';
import { decodeKey, encodePublicIdentity, generateSeed, identityFromSeed } from '../src/crypto/identity.js';
import { SodiumValueCipher } from '../src/crypto/value-cipher.js';
import { canonicalJson, signedBytesOf } from '../src/store/codec.js';
import { Format1Writer, signRecord } from './support/format1-writer.js';
import { TrustStore } from '../src/store/trust.js';

type Marker = ReturnType<typeof marker>;
/** A parsed record line: plain JSON, as an attacker with a text editor sees it. */
type Rec = Record<string, unknown> & { kind: string };

const DB = 'app/db';
const API = 'app/api';
const POLICY_VERSION = '2012-10-17';

/** GetSecretValue on app/* only. */
const READ_ONLY = {
  Version: POLICY_VERSION,
  Statement: [{ Sid: 'Read', Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'app/*' }],
};
/** GetSecretValue and PutSecretValue on app/*. */
const WRITER = {
  Version: POLICY_VERSION,
  Statement: [{ Sid: 'ReadWrite', Effect: 'Allow', Action: ['secrets:GetSecretValue', 'secrets:PutSecretValue'], Resource: 'app/*' }],
};
/** Read, and an explicit deny of new values (the statement an attacker flips to Allow). */
const GUARDED = {
  Version: POLICY_VERSION,
  Statement: [
    { Sid: 'Read', Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'app/*' },
    { Sid: 'NoNewValues', Effect: 'Deny', Action: 'secrets:PutSecretValue', Resource: 'app/*' },
  ],
};

// ---------------------------------------------------------------------------------------------
// Fixture: alice creates the vault (app/db with two versions, app/api with one) and adds bob as a
// member, optionally with one identity policy attached.

interface Member {
  readonly name: string;
  readonly identity: Identity;
  readonly keyFile: string;
  readonly pub: string;
}

interface Team {
  readonly sb: Sandbox;
  readonly alice: Identity;
  readonly bob: Member;
  /** Values of app/db, oldest first (the last one is CURRENT). */
  readonly db: readonly Marker[];
  readonly api: Marker;
  /** Every encoding of every value stored, for leak checks. */
  readonly leaks: string[];
  /** Runs the CLI as bob (his identity file). */
  asBob(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  /** Adds another identity as a member through alice. */
  addMember(name: string, role: 'admin' | 'member'): Promise<Member>;
  /** Alice puts an identity policy and attaches it to a member. */
  grant(policy: string, doc: unknown, member: string): Promise<void>;
}

async function identityFromKeyFile(path: string): Promise<Identity> {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  equal(lines.length, 1, `${path} holds one key line`);
  return identityFromSeed(decodeKey(lines[0] as string, path));
}

async function team(opts: { bobPolicy?: unknown; format?: '2' } = {}): Promise<Team> {
  // Format 1 unless asked: most of these attacks edit format-1 records by hand.
  const sb = sandbox(opts.format === '2' ? {} : FORMAT_1);
  try {
    await sb.ok(['init', '--member-name', 'alice', ...(opts.format ? ['--format', opts.format] : [])]);
    const db = [marker(), marker()] as const;
    const api = marker();
    await sb.ok(['create', DB, '--value-stdin', '--tag', 'env=prod'], { input: db[0].value });
    await sb.ok(['put', DB, '--value-stdin'], { input: db[1].value });
    await sb.ok(['create', API, '--value-stdin', '--tag', 'team=web'], { input: api.value });
    const alice = await identityFromKeyFile(join(sb.env['XDG_CONFIG_HOME'] as string, 'secrets', 'identity.key'));

    const addMember = async (name: string, role: 'admin' | 'member'): Promise<Member> => {
      const keyFile = join(sb.home, `${name}.key`);
      const pub = (await sb.ok(['identity', 'new', '--name', name, '--out', keyFile])).trim();
      match(pub, /^secrets-identity-1\S+$/);
      await sb.ok(['member', 'add', name, pub, '--role', role]);
      return { name, identity: await identityFromKeyFile(keyFile), keyFile, pub };
    };
    const grant = async (policy: string, doc: unknown, member: string): Promise<void> => {
      const file = join(sb.home, `${policy}.policy.json`);
      writeFileSync(file, JSON.stringify(doc));
      await sb.ok(['policy', 'put', policy, '-f', file]);
      await sb.ok(['policy', 'attach', policy, member]);
    };

    const bob = await addMember('bob', 'member');
    if (opts.bobPolicy !== undefined) await grant('bob-policy', opts.bobPolicy, 'bob');
    return {
      sb,
      alice,
      bob,
      db,
      api,
      leaks: [...db, api].flatMap((m) => m.encodings),
      asBob: (args, runOpts) => sb.run(['--identity-file', bob.keyFile, ...args], runOpts),
      addMember,
      grant,
    };
  } catch (err) {
    sb.cleanup();
    throw err;
  }
}

async function withTeam(opts: { bobPolicy?: unknown; format?: '2' }, fn: (t: Team) => Promise<void>): Promise<void> {
  const t = await team(opts);
  try {
    await fn(t);
  } finally {
    t.sb.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// The insider: the repository's own transaction, run with bob's key and no CLI checks.

function repositoryFor(sb: Sandbox, who: Identity): Format1Writer {
  // The insider's own machine: its own trust state, the shared vault file.
  return new Format1Writer({
    path: sb.vault,
    trust: new TrustStore(join(sb.home, `trust-of-${who.id}`)),
    clock: { now: () => new Date() },
    lockTimeoutMs: 5000,
  });
}

/** Writes `change(state)` as `who`: every record without `sig` is signed with who's key. */
async function insiderWrite(sb: Sandbox, who: Identity, change: (state: VaultState) => VaultState | Promise<VaultState>): Promise<void> {
  await repositoryFor(sb, who).transact(who, async (state) => ({ state: await change(state), result: undefined }));
}

function unsigned<T extends { sig?: string }>(record: T): T {
  const { sig: _sig, ...rest } = record;
  return rest as T;
}

function entryOf(state: VaultState, name: string): SecretEntry {
  return state.secrets.find((e) => e.secret.name === name) ?? fail(`no secret ${name}`);
}

/**
 * A correctly encrypted new version of `name` (sealed to the readers the policy allows, AAD
 * bound to vault, secret and version), unsigned so that the repository signs it with the
 * insider's key; with `moveCurrent`, the secret record moves CURRENT to it (and is re-signed).
 */
async function forgeVersion(
  state: VaultState,
  name: string,
  value: string,
  opts: { moveCurrent: boolean; act?: string; signer?: Identity; ctr?: number },
): Promise<{ state: VaultState; versionId: string }> {
  const entry = entryOf(state, name);
  const cipher = new SodiumValueCipher();
  const versionId = randomUUID();
  const readers = readersOf(state, entry).map((m) => cipher.memberIdentity(m));
  const sealed = await cipher.seal(SecretBytes.fromString(value), { vaultId: state.vault.id, secretId: entry.secret.id, versionId, type: 'string' }, readers);
  const now = new Date().toISOString();
  const act = opts.act ?? 'PutSecretValue';
  let version: VersionRecord = {
    kind: 'version',
    secret: entry.secret.id,
    id: versionId,
    created: now,
    type: 'string',
    n: sealed.n,
    ct: sealed.ct,
    keys: sealed.keys,
    act,
    by: opts.signer?.id ?? '',
    ctr: opts.ctr ?? 0,
  };
  if (opts.signer) {
    // Pre-signed by someone other than the identity that runs the transaction.
    const sig = await signRecord(opts.signer, state.vault.id, signedBytesOf(version));
    version = { ...version, sig: toBase64(sig) };
  }
  let secret = entry.secret;
  if (opts.moveCurrent) {
    const stages = new Map(secret.stages);
    const current = stages.get('CURRENT');
    if (current !== undefined) stages.set('PREVIOUS', current);
    stages.set('CURRENT', versionId);
    secret = unsigned({ ...secret, stages, changed: now, act });
  }
  const secrets = state.secrets.map((e) => (e === entry ? { secret, versions: [...e.versions, version] } : e));
  return { state: { ...state, secrets }, versionId };
}

// ---------------------------------------------------------------------------------------------
// The vault file as text.

interface Line {
  /** 1-based line number in the file. */
  readonly no: number;
  readonly rec: Rec;
}

function readLines(path: string): { header: string; lines: Line[] } {
  const text = readFileSync(path, 'utf8');
  const raw = text.split('\n');
  equal(raw.pop(), '', 'the vault file ends with a newline');
  const [header, ...rest] = raw;
  if (header === undefined || !header.startsWith('#')) return fail('line 1 is a comment');
  return {
    header,
    lines: rest.map((l, i) => {
      ok(l.startsWith('- '), `record line: ${l.slice(0, 40)}`);
      return { no: i + 2, rec: JSON.parse(l.slice(2)) as Rec };
    }),
  };
}

function recordsOf(path: string): Rec[] {
  return readLines(path).lines.map((l) => l.rec);
}

/** The line number of the one record matching `pred`. */
function lineWhere(path: string, pred: (r: Rec) => boolean, what: string): number {
  const found = readLines(path).lines.filter((l) => pred(l.rec));
  equal(found.length, 1, `exactly one ${what}`);
  return (found[0] as Line).no;
}

function lineOf(rec: Rec): string {
  return `- ${canonicalJson(rec as Parameters<typeof canonicalJson>[0])}`;
}

/** SHA-256 over every record line except the head's, each with its newline (as the CLI does). */
function digestOf(recs: readonly Rec[]): string {
  const hash = createHash('sha256');
  for (const r of recs) if (r.kind !== 'head') hash.update(`${lineOf(r)}\n`);
  return hash.digest('hex');
}

/** Reads the records, lets `edit` change them in place (or return new ones), writes them back. */
async function editVault(path: string, edit: (recs: Rec[]) => void | Rec[] | Promise<void | Rec[]>): Promise<Buffer> {
  const { header, lines } = readLines(path);
  const before = readFileSync(path);
  const recs = lines.map((l) => l.rec);
  const next = (await edit(recs)) ?? recs;
  writeFileSync(path, `${header}\n${next.map((r) => `${lineOf(r)}\n`).join('')}`);
  const after = readFileSync(path);
  ok(!after.equals(before), 'the edit changed the file');
  return after;
}

function entryOfFile(sb: Sandbox, name: string): Rec {
  return find(recordsOf(sb.vault), (r) => r.kind === 'secret' && r['name'] === name, `secret ${name}`);
}

function find(recs: readonly Rec[], pred: (r: Rec) => boolean, what: string): Rec {
  return recs.find(pred) ?? fail(`no ${what}`);
}

function vaultIdOf(recs: readonly Rec[]): string {
  return find(recs, (r) => r.kind === 'vault', 'vault record')['id'] as string;
}

/** Signs `rec` as `signer` (by = signer.id), the way the CLI signs records. */
async function signAs(rec: Rec, signer: Identity, vaultId: string): Promise<void> {
  delete rec['sig'];
  rec['by'] = signer.id;
  const sig = await signRecord(signer, vaultId, canonicalJson(rec as Parameters<typeof canonicalJson>[0]));
  rec['sig'] = toBase64(sig);
}

/** Recomputes the head digest and signs the head as `signer`, claiming counter `ctr`. */
async function resignHead(recs: Rec[], signer: Identity, ctr: number): Promise<void> {
  const head = find(recs, (r) => r.kind === 'head', 'head');
  head['digest'] = digestOf(recs);
  head['ctr'] = ctr;
  head['ctrs'] = { ...(head['ctrs'] as Record<string, number>), [signer.id]: ctr };
  await signAs(head, signer, vaultIdOf(recs));
}

// ---------------------------------------------------------------------------------------------
// Assertions.

/** Exit `code`, empty stdout, one error line (+ optional hint), no stack, no value in the output. */
function assertFails(r: CliResult, code: number, leaks: readonly string[], message?: RegExp): string {
  const ctx = `exit ${r.code}, stdout ${r.stdoutBytes.length} bytes, stderr:\n${r.stderr}`;
  equal(r.signal, null, ctx);
  equal(r.code, code, ctx);
  equal(r.stdoutBytes.length, 0, `stdout must be empty, got ${JSON.stringify(r.stdout.slice(0, 200))}`);
  ok(r.stderr.endsWith('\n'), ctx);
  const lines = r.stderr.slice(0, -1).split('\n');
  ok(lines.length === 1 || lines.length === 2, `one error line and at most one hint line: ${ctx}`);
  match(lines[0] as string, /^secrets: error: \S/, ctx);
  if (lines.length === 2) match(lines[1] as string, /^secrets: hint: \S/, ctx);
  ok(!/^\s+at /m.test(r.stderr), `no stack trace: ${ctx}`);
  ok(!/internal error/i.test(r.stderr), `not an internal error: ${ctx}`);
  assertNoLeak(r, leaks);
  if (message) match(lines[0] as string, message, ctx);
  return lines[0] as string;
}

function assertNoLeak(r: CliResult, leaks: readonly string[]): void {
  for (const leak of leaks) {
    ok(!r.stderr.includes(leak), 'stderr never contains a secret value');
    ok(!r.stdout.includes(leak), 'stdout never contains a secret value');
  }
}

function assertUnchanged(sb: Sandbox, expected: Buffer, what: string): void {
  ok(readFileSync(sb.vault).equals(expected), `${what} must not rewrite the vault file`);
}

/** `secrets verify`: exit 6, nothing on stdout, one error line per rejected record, a summary. */
async function assertVerifyRejects(sb: Sandbox, leaks: readonly string[], expected: readonly RegExp[]): Promise<void> {
  const r = await sb.run(['verify']);
  const ctx = `exit ${r.code}, stderr:\n${r.stderr}`;
  equal(r.code, 6, ctx);
  equal(r.stdout, '', ctx);
  assertNoLeak(r, leaks);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('secrets: error: '));
  equal(errors.length, expected.length, ctx);
  for (const re of expected)
    ok(
      errors.some((l) => re.test(l)),
      `verify names ${re}: ${ctx}`,
    );
  match(r.stderr, new RegExp(`${expected.length} record\\(s\\) rejected out of \\d+`), ctx);
  const json = await sb.run(['verify', '--json']);
  equal(json.code, 6, json.stderr);
  const report = JSON.parse(json.stdout) as { Problems: string[] };
  equal(report.Problems.length, expected.length, json.stdout);
}

async function assertVerifyPasses(sb: Sandbox): Promise<void> {
  const r = await sb.run(['verify']);
  equal(r.code, 0, r.stderr);
  match(r.stderr, /records verified in vault \S+: every signature valid, every writer allowed/);
  ok(!r.stderr.includes('warning'), `no drift: ${r.stderr}`);
}

/** `secrets doctor` reports the failure in its integrity row and exits 6. */
async function assertDoctorFails(sb: Sandbox, leaks: readonly string[], detail: RegExp): Promise<void> {
  const r = await sb.run(['doctor', '--json']);
  equal(r.code, 6, `doctor: exit ${r.code}\n${r.stdout}${r.stderr}`);
  assertNoLeak(r, leaks);
  const { Checks } = JSON.parse(r.stdout) as { Checks: { Name: string; Status: string; Detail: string }[] };
  const integrity = Checks.find((c) => c.Name === 'integrity') ?? fail(`no integrity check: ${r.stdout}`);
  equal(integrity.Status, 'fail', r.stdout);
  match(integrity.Detail, detail);
}

const byBob =
  (t: Team) =>
  (r: Rec): boolean =>
    r['by'] === t.bob.identity.id;

// ---------------------------------------------------------------------------------------------

describe('authorization: members, policies and signed writes', { concurrency: 6 }, () => {
  // T9: unauthorised writers.

  test('T9 insider: a read-only member writes a self-signed, correctly encrypted CURRENT version; every reader rejects it', () =>
    withTeam({ bobPolicy: READ_ONLY }, async (t) => {
      const forged = marker();
      const leaks = [...t.leaks, ...forged.encodings];
      let versionId = '';
      await insiderWrite(t.sb, t.bob.identity, async (s) => {
        const f = await forgeVersion(s, DB, forged.value, { moveCurrent: true });
        versionId = f.versionId;
        return f.state;
      });
      const file = readFileSync(t.sb.vault);
      const secretLine = lineWhere(t.sb.vault, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db secret record');
      const versionLine = lineWhere(t.sb.vault, (r) => r.kind === 'version' && r['id'] === versionId, 'forged version');
      const recs = recordsOf(t.sb.vault);
      // The insider's write is well formed: signed by bob, with the action a CLI `put` would name.
      for (const r of recs.filter(byBob(t)).filter((r) => r.kind !== 'head')) equal(r['act'], 'PutSecretValue');
      deepEqual(
        recs
          .filter(byBob(t))
          .map((r) => r.kind)
          .sort(),
        ['head', 'secret', 'version'],
      );

      const notAllowed = 'is not authorized: bob is not allowed secrets:PutSecretValue on app/db';
      for (const args of [
        ['get', DB],
        ['get', DB, '--json'],
        ['get', DB, '--version-id', versionId],
        ['describe', DB],
      ]) {
        const first = assertFails(
          await t.sb.run(args),
          6,
          leaks,
          new RegExp(`^secrets: error: (secret|version) record at line \\d+ \\(app/db\\) ${notAllowed}`),
        );
        // It names a line bob wrote (get checks the secret record before the version record).
        const named = Number(/ at line (\d+) /.exec(first)?.[1]);
        ok(named === secretLine || named === versionLine, `names line ${secretLine} or ${versionLine}: ${first}`);
        if (args[0] === 'describe') equal(named, secretLine);
      }
      // The forged version is named by its own line once the secret record is alice's again
      // (see the next test); here both lines are listed by verify.
      await assertVerifyRejects(t.sb, leaks, [
        new RegExp(`secret record at line ${secretLine} \\(app/db\\) ${notAllowed}`),
        new RegExp(`version record at line ${versionLine} \\(app/db\\) ${notAllowed}`),
      ]);
      await assertDoctorFails(t.sb, leaks, new RegExp(`2 record\\(s\\) rejected: .*${notAllowed}`));
      // Alice's put relies on the secret record: refused too, and nothing is rewritten.
      const fresh = marker();
      assertFails(await t.sb.run(['put', DB, '--value-stdin'], { input: fresh.value }), 6, [...leaks, ...fresh.encodings], new RegExp(notAllowed));
      // An untouched secret still reads: only the records a command uses decide it.
      equal(await t.sb.ok(['get', API]), t.api.value);
      assertUnchanged(t.sb, file, 'get, describe, verify, doctor and a refused put');
    }));

  test('T9 insider: a read-only member adds a self-signed version beside CURRENT; get serves the legitimate value, the forged line is named', () =>
    withTeam({ bobPolicy: READ_ONLY }, async (t) => {
      const forged = marker();
      const leaks = [...t.leaks, ...forged.encodings];
      let versionId = '';
      await insiderWrite(t.sb, t.bob.identity, async (s) => {
        const f = await forgeVersion(s, DB, forged.value, { moveCurrent: false });
        versionId = f.versionId;
        return f.state;
      });
      const file = readFileSync(t.sb.vault);
      const versionLine = lineWhere(t.sb.vault, (r) => r.kind === 'version' && r['id'] === versionId, 'forged version');
      const notAllowed = 'is not authorized: bob is not allowed secrets:PutSecretValue on app/db';
      equal(await t.sb.ok(['get', DB]), t.db[1]?.value, 'CURRENT is still alice’s value');
      for (const who of ['alice', 'bob']) {
        const r = who === 'alice' ? await t.sb.run(['get', DB, '--version-id', versionId]) : await t.asBob(['get', DB, '--version-id', versionId]);
        assertFails(r, 6, leaks, new RegExp(`^secrets: error: version record at line ${versionLine} \\(app/db\\) ${notAllowed}`));
      }
      await assertVerifyRejects(t.sb, leaks, [new RegExp(`version record at line ${versionLine} \\(app/db\\) ${notAllowed}`)]);
      await assertDoctorFails(t.sb, leaks, new RegExp(notAllowed));
      assertUnchanged(t.sb, file, 'get, verify and doctor');
    }));

  test('T9 insider: an unauthorized label move (CURRENT rolled back) is not endorsed by an honest writer of that secret', () =>
    withTeam({ bobPolicy: READ_ONLY }, async (t) => {
      // Bob (read-only) moves CURRENT back to the older value: a metadata-only forgery, so the
      // only record that shows it is the secret record he signed. A later honest write that
      // re-signs that record (tag, untag, stage, delete, update, put) must refuse it rather than
      // sign it as its own, or the rollback would become valid and `get` would serve the old value.
      await insiderWrite(t.sb, t.bob.identity, (s) => {
        const e = entryOf(s, DB);
        const stages = new Map(e.secret.stages);
        const [cur, prev] = [stages.get('CURRENT'), stages.get('PREVIOUS')];
        if (cur === undefined || prev === undefined) return fail('app/db has CURRENT and PREVIOUS');
        stages.set('CURRENT', prev);
        stages.set('PREVIOUS', cur);
        const secret = unsigned({ ...e.secret, stages, changed: new Date().toISOString(), act: 'UpdateSecretVersionStage' });
        return { ...s, secrets: s.secrets.map((x) => (x === e ? { ...x, secret } : x)) };
      });
      const forged = readFileSync(t.sb.vault);
      const vaultId = vaultIdOf(recordsOf(t.sb.vault));
      const trustFile = join(t.sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust', `${vaultId}.json`);
      const trusted = readFileSync(trustFile);
      const line = lineWhere(t.sb.vault, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db');
      const notAllowed = new RegExp(
        `secret record at line ${line} \\(app/db\\) is not authorized: bob is not allowed secrets:UpdateSecretVersionStage on app/db`,
      );
      assertFails(await t.sb.run(['get', DB]), 6, t.leaks, notAllowed);
      const dbId = entryOfFile(t.sb, DB)['id'];
      const other = find(recordsOf(t.sb.vault), (r) => r.kind === 'version' && r['secret'] === dbId, 'a version of app/db')['id'] as string;
      const fresh = marker();
      const writes: [readonly string[], string | undefined][] = [
        [['tag', DB, 'owner=alice'], undefined],
        [['untag', DB, 'env'], undefined],
        [['stage', DB, 'AWSPENDING', '--to', other], undefined],
        [['delete', DB, '--yes'], undefined],
        [['update', DB, '--description', 'reviewed'], undefined],
        [['put', DB, '--value-stdin'], fresh.value],
      ];
      const laundered: string[] = [];
      for (const [args, input] of writes) {
        // Each write starts from the forged file and this machine's trust state as they were.
        writeFileSync(t.sb.vault, forged);
        writeFileSync(trustFile, trusted);
        const r = await t.sb.run(args, input === undefined ? {} : { input });
        assertNoLeak(r, [...t.leaks, ...fresh.encodings]);
        const get = await t.sb.run(['get', DB]);
        if (r.code !== 6 || !readFileSync(t.sb.vault).equals(forged)) {
          laundered.push(
            `secrets ${args.join(' ')} exited ${r.code}${get.code === 0 && get.stdout === t.db[0]?.value ? ' and get then served the rolled-back value' : ''}`,
          );
        } else {
          match(r.stderr, notAllowed);
        }
      }
      deepEqual(laundered, [], 'honest writes must refuse the unauthorized secret record instead of re-signing it');
    }));

  test('T9: the same write by a member whose policy allows PutSecretValue on app/* is accepted', () =>
    withTeam({ bobPolicy: WRITER }, async (t) => {
      const written = marker();
      await insiderWrite(t.sb, t.bob.identity, async (s) => (await forgeVersion(s, DB, written.value, { moveCurrent: true })).state);
      const recs = recordsOf(t.sb.vault);
      deepEqual(
        recs
          .filter(byBob(t))
          .map((r) => r.kind)
          .sort(),
        ['head', 'secret', 'version'],
        'bob’s records stay his',
      );
      equal(await t.sb.ok(['get', DB]), written.value);
      const asBob = await t.asBob(['get', DB]);
      equal(asBob.code, 0, asBob.stderr);
      equal(asBob.stdout, written.value);
      equal(await t.sb.ok(['get', DB, '--version-stage', 'PREVIOUS']), t.db[1]?.value);
      await assertVerifyPasses(t.sb);
      const doctor = await t.sb.run(['doctor', '--json']);
      equal(doctor.code, 0, doctor.stdout);
    }));

  // T10: membership and policy records must be admin-signed.

  const t10: { name: string; change: (t: Team, mallory: Identity) => (s: VaultState) => VaultState; refusal: string }[] = [
    {
      name: 'a policy granting himself secrets:* on *',
      change: (t) => (s) => {
        const policy: PolicyRecord = {
          kind: 'policy',
          name: 'bob-everything',
          doc: { Version: POLICY_VERSION, Statement: [{ Effect: 'Allow', Action: 'secrets:*', Resource: '*' }] },
          attached: [t.bob.identity.id],
          changed: new Date().toISOString(),
          by: '',
          ctr: 0,
        };
        return { ...s, policies: [...s.policies, policy] };
      },
      refusal: 'policy record at line \\d+ is not signed by an admin of this vault',
    },
    {
      name: 'his own member record changed to the admin role',
      change: (t) => (s) => ({
        ...s,
        members: s.members.map((m) => (m.id === t.bob.identity.id ? unsigned({ ...m, roles: ['admin'] }) : m)),
      }),
      refusal: 'member record at line \\d+ \\("bob"\\) was not added by an admin of this vault',
    },
    {
      name: 'a member record for a new identity mallory (admin), signed by himself',
      change: (_t, mallory) => (s) => {
        const member: MemberRecord = {
          kind: 'member',
          id: mallory.id,
          name: 'mallory',
          enc: toBase64(mallory.enc),
          sign: toBase64(mallory.sign),
          roles: ['admin'],
          added: new Date().toISOString(),
          by: '',
          ctr: 0,
        };
        return { ...s, members: [...s.members, member] };
      },
      refusal: 'member record at line \\d+ \\("mallory"\\) was not added by an admin of this vault',
    },
  ];

  for (const c of t10) {
    test(`T10 insider: a non-admin member writes ${c.name}; every command refuses the vault`, () =>
      withTeam({ bobPolicy: READ_ONLY }, async (t) => {
        const mallory = await identityFromSeed(generateSeed());
        await insiderWrite(t.sb, t.bob.identity, c.change(t, mallory));
        const file = readFileSync(t.sb.vault);
        const fresh = marker();
        const leaks = [...t.leaks, ...fresh.encodings];
        const refusal = new RegExp(`^secrets: error: ${c.refusal}`);
        const dave = encodePublicIdentity(await identityFromSeed(generateSeed()));
        const commands: [readonly string[], string | undefined][] = [
          [['get', DB], undefined],
          [['get', API, '--json'], undefined],
          [['describe', DB], undefined],
          [['versions', DB], undefined],
          [['list'], undefined],
          [['put', DB, '--value-stdin'], fresh.value],
          [['create', 'app/new', '--value-stdin'], fresh.value],
          [['tag', DB, 'owner=alice'], undefined],
          [['member', 'list'], undefined],
          [['member', 'add', 'dave', dave], undefined],
          [['member', 'remove', 'bob', '--yes'], undefined],
          [['policy', 'list'], undefined],
          [['policy', 'detach', 'bob-policy', 'bob', '--yes'], undefined],
          [['reseal'], undefined],
          [['verify'], undefined],
        ];
        for (const [args, input] of commands) {
          assertFails(await t.sb.run(args, input === undefined ? {} : { input }), 6, leaks, refusal);
          assertUnchanged(t.sb, file, `secrets ${args.join(' ')}`);
        }
        // Bob's own CLI refuses it too (his grant is worthless), and so would mallory's.
        assertFails(await t.asBob(['put', DB, '--value-stdin'], { input: fresh.value }), 6, leaks, refusal);
        assertFails(await t.asBob(['get', API]), 6, leaks, refusal);
        await assertDoctorFails(t.sb, leaks, new RegExp(c.refusal));
        assertUnchanged(t.sb, file, 'every refused command');
        // No data key was ever sealed to mallory (nor did any version gain a reader).
        for (const v of recordsOf(t.sb.vault).filter((r) => r.kind === 'version')) {
          ok(!Object.keys(v['keys'] as Record<string, string>).includes(mallory.id), 'no data key sealed to mallory');
        }
      }));
  }

  // T11: metadata that drives access decisions is signed.

  test('T11: a policy statement flipped from Deny to Allow in place (not re-signed) is refused by every command', () =>
    withTeam({ bobPolicy: GUARDED }, async (t) => {
      const fresh = marker();
      const leaks = [...t.leaks, ...fresh.encodings];
      // Before: the deny holds.
      assertFails(
        await t.asBob(['put', DB, '--value-stdin'], { input: fresh.value }),
        5,
        leaks,
        /bob is not allowed secrets:PutSecretValue on app\/db: explicit deny/,
      );
      const tampered = await editVault(t.sb.vault, (recs) => {
        const p = find(recs, (r) => r.kind === 'policy' && r['name'] === 'bob-policy', 'policy');
        const statements = (p['doc'] as { Statement: { Sid: string; Effect: string }[] }).Statement;
        const deny = statements.find((s) => s.Sid === 'NoNewValues') ?? fail('no deny statement');
        equal(deny.Effect, 'Deny');
        deny.Effect = 'Allow';
      });
      const line = lineWhere(t.sb.vault, (r) => r.kind === 'policy', 'policy record');
      const refusal = new RegExp(`^secrets: error: policy record at line ${line} has an invalid signature`);
      assertFails(await t.asBob(['put', DB, '--value-stdin'], { input: fresh.value }), 6, leaks, refusal);
      for (const args of [['get', DB], ['list'], ['describe', API], ['policy', 'get', 'bob-policy'], ['verify']]) {
        assertFails(await t.sb.run(args), 6, leaks, refusal);
      }
      assertFails(await t.sb.run(['put', DB, '--value-stdin'], { input: fresh.value }), 6, leaks, refusal);
      assertUnchanged(t.sb, tampered, 'the refused commands');
    }));

  test('T11: a tag edited in place (not re-signed) is refused', () =>
    withTeam({ bobPolicy: READ_ONLY }, async (t) => {
      const tampered = await editVault(t.sb.vault, (recs) => {
        const s = find(recs, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db');
        deepEqual(s['tags'], { env: 'prod' });
        s['tags'] = { env: 'dev' };
      });
      const line = lineWhere(t.sb.vault, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db');
      const refusal = new RegExp(`^secrets: error: secret record at line ${line} has an invalid signature`);
      for (const args of [['get', DB], ['get', API], ['describe', DB], ['list'], ['tag', DB, 'env=staging'], ['verify']]) {
        assertFails(await t.sb.run(args), 6, t.leaks, refusal);
      }
      assertFails(await t.asBob(['get', DB]), 6, t.leaks, refusal);
      assertUnchanged(t.sb, tampered, 'the refused commands');
    }));

  test('T11 insider: a read-only member re-tags a secret and signs it (and the head) with his key; readers reject it', () =>
    withTeam({ bobPolicy: READ_ONLY }, async (t) => {
      await insiderWrite(t.sb, t.bob.identity, (s) => {
        const e = entryOf(s, DB);
        const secret = unsigned({ ...e.secret, tags: new Map([['env', 'dev']]), changed: new Date().toISOString(), act: 'TagResource' });
        return { ...s, secrets: s.secrets.map((x) => (x === e ? { ...x, secret } : x)) };
      });
      const file = readFileSync(t.sb.vault);
      const line = lineWhere(t.sb.vault, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db');
      const notAllowed = new RegExp(`secret record at line ${line} \\(app/db\\) is not authorized: bob is not allowed secrets:TagResource on app/db`);
      for (const args of [
        ['get', DB],
        ['describe', DB],
        ['versions', DB],
      ])
        assertFails(await t.sb.run(args), 6, t.leaks, notAllowed);
      await assertVerifyRejects(t.sb, t.leaks, [notAllowed]);
      assertUnchanged(t.sb, file, 'the refused commands');
    }));

  // Denials by the CLI: exit 5, the file untouched.

  for (const format of [undefined, '2'] as const)
    test(`a member with no policies is denied every secret action (exit 5), and no denied write changes the file${format ? ` (format ${format})` : ''}`, () =>
      withTeam(format ? { format } : {}, async (t) => {
        const fresh = marker();
        const leaks = [...t.leaks, ...fresh.encodings];
        const versions = JSON.parse(await t.sb.ok(['versions', DB, '--json'])) as { Versions: { VersionId: string; VersionStages: string[] }[] };
        const current = versions.Versions.find((v) => v.VersionStages.includes('CURRENT'))?.VersionId as string;
        const cases: { args: readonly string[]; action: string; secret?: string; input?: string }[] = [
          { args: ['get', DB], action: 'GetSecretValue' },
          { args: ['get', DB, '--version-stage', 'PREVIOUS'], action: 'GetSecretValue' },
          { args: ['describe', DB], action: 'DescribeSecret' },
          { args: ['versions', DB], action: 'ListSecretVersionIds' },
          { args: ['put', DB, '--value-stdin'], action: 'PutSecretValue', input: fresh.value },
          { args: ['update', DB, '--description', 'owned by bob'], action: 'UpdateSecret' },
          { args: ['tag', DB, 'owner=bob'], action: 'TagResource' },
          { args: ['untag', DB, 'env'], action: 'UntagResource' },
          { args: ['stage', DB, 'AWSPENDING', '--to', current], action: 'UpdateSecretVersionStage' },
          { args: ['delete', DB, '--yes'], action: 'DeleteSecret' },
          { args: ['delete', DB, '--force', '--yes'], action: 'DeleteSecret' },
          { args: ['restore', DB], action: 'RestoreSecret' },
          { args: ['create', 'app/new', '--value-stdin'], action: 'CreateSecret', secret: 'app/new', input: fresh.value },
          { args: ['list'], action: 'ListSecrets', secret: '' },
        ];
        const file = readFileSync(t.sb.vault);
        for (const c of cases) {
          const target = c.secret ?? DB;
          const on = target === '' ? '' : ` on ${target}`;
          const r = await t.asBob(c.args, c.input === undefined ? {} : { input: c.input });
          assertFails(r, 5, leaks, new RegExp(`^secrets: error: bob is not allowed secrets:${c.action}${on}: implicit deny`));
          assertUnchanged(t.sb, file, `denied secrets ${c.args.join(' ')}`);
        }
        // SECRETS_IDENTITY_FILE selects the identity the same way.
        const viaEnv = await t.sb.run(['get', API], { env: { SECRETS_IDENTITY_FILE: t.bob.keyFile } });
        assertFails(viaEnv, 5, leaks, /^secrets: error: bob is not allowed secrets:GetSecretValue on app\/api/);
        // Admin commands are denied to a member as well.
        assertFails(await t.asBob(['policy', 'attach', 'nope', 'bob']), 5, leaks, /only an admin can change policies/);
        assertFails(await t.asBob(['member', 'remove', 'alice', '--yes']), 5, leaks, /only an admin can remove members/);
        assertUnchanged(t.sb, file, 'denied admin commands');
      }));

  // T14 and endorsement: admin changes keep history valid; removal leaves the removed key nothing.

  test('endorsement: detaching the writer’s policy, or removing the writer, keeps what they wrote under their name', () =>
    withTeam({ bobPolicy: WRITER }, async (t) => {
      const v1 = marker();
      const v2 = marker();
      await t.asBob(['put', DB, '--value-stdin'], { input: v1.value }).then((r) => equal(r.code, 0, r.stderr));
      let recs = recordsOf(t.sb.vault);
      deepEqual(
        recs
          .filter(byBob(t))
          .map((r) => r.kind)
          .sort(),
        ['head', 'secret', 'version'],
        'bob wrote the version and the secret record',
      );
      await assertVerifyPasses(t.sb);

      // Detach: bob may no longer PutSecretValue. What he wrote stays his, kept valid by the
      // admin-signed list in his member record, and the secret's settings are held.
      await t.sb.ok(['policy', 'detach', 'bob-policy', 'bob', '--yes']);
      recs = recordsOf(t.sb.vault);
      const bobsNow = recs.filter(byBob(t)).filter((r) => r.kind !== 'head');
      // (His version lost his data key in the same change, so alice re-sealed and signed it.)
      deepEqual(
        bobsNow.map((r) => r.kind),
        ['secret'],
        'bob’s secret record keeps its author',
      );
      const bobRec = find(recs, (r) => r.kind === 'member' && r['id'] === t.bob.identity.id, 'bob’s member record');
      equal(bobRec['by'], t.alice.id);
      deepEqual(bobRec['kept'], bobsNow.map((r) => r['sig']).sort(), 'alice’s record of bob lists exactly those signatures');
      deepEqual(bobRec['held'], [recs.find((s) => s.kind === 'secret' && s['name'] === DB)?.['id']]);
      await assertVerifyPasses(t.sb);
      equal(await t.sb.ok(['get', DB]), v1.value);
      assertFails(await t.asBob(['get', DB]), 5, [...t.leaks, ...v1.encodings], /bob is not allowed secrets:GetSecretValue on app\/db/);

      // Attach again, bob writes app/api; removing him keeps what he signed under his name: the
      // removal (signed by alice) lists those signatures, and alice vouches for none of them.
      await t.sb.ok(['policy', 'attach', 'bob-policy', 'bob']);
      await t.asBob(['put', API, '--value-stdin'], { input: v2.value }).then((r) => equal(r.code, 0, r.stderr));
      ok(recordsOf(t.sb.vault).filter(byBob(t)).length >= 2, 'bob signed records again');
      const removed = await t.sb.run(['member', 'remove', 'bob', '--yes']);
      equal(removed.code, 0, removed.stderr);
      deepEqual(removed.stdout.split('\n').filter(Boolean).sort(), [API, DB], 'the secrets bob could read are listed for rotation');
      recs = recordsOf(t.sb.vault);
      const bobMember = find(recs, (r) => r.kind === 'member' && r['id'] === t.bob.identity.id, 'bob’s member record');
      ok(typeof bobMember['removed'] === 'string' && bobMember['by'] === t.alice.id, 'bob’s member record is marked removed by alice');
      const stillBobs = recs.filter(byBob(t));
      deepEqual(
        stillBobs.map((r) => r.kind),
        ['secret', 'secret'],
        'his secret records (app/api, and app/db from before) keep their author; his versions were re-sealed without his key',
      );
      deepEqual(bobMember['kept'], stillBobs.map((r) => r['sig']).sort(), 'and the removal keeps exactly those signatures');
      for (const v of recs.filter((r) => r.kind === 'version')) {
        ok(!Object.keys(v['keys'] as Record<string, string>).includes(t.bob.identity.id), 'no data key is left sealed to bob');
      }
      await assertVerifyPasses(t.sb);
      equal(await t.sb.ok(['get', API]), v2.value);
      equal(await t.sb.ok(['get', DB]), v1.value);
      const members = JSON.parse(await t.sb.ok(['member', 'list', '--removed', '--json'])) as { Members: { Name: string; Status: string }[] };
      deepEqual(
        members.Members.map((m) => [m.Name, m.Status]),
        [
          ['alice', 'active'],
          ['bob', 'removed'],
        ],
      );
    }));

  test('T14: a removed member’s key signs nothing valid', () =>
    withTeam({ bobPolicy: WRITER }, async (t) => {
      await t.asBob(['put', DB, '--value-stdin'], { input: marker().value }).then((r) => equal(r.code, 0, r.stderr));
      const carol = await t.addMember('carol', 'member');
      await t.grant('carol-read', READ_ONLY, 'carol');
      await t.sb.ok(['member', 'remove', 'bob', '--yes']);
      const clean = readFileSync(t.sb.vault);
      const forged = marker();
      const leaks = [...t.leaks, ...forged.encodings];

      // Through the repository, the removed key is refused before anything is written.
      await rejects(
        insiderWrite(t.sb, t.bob.identity, async (s) => (await forgeVersion(s, DB, forged.value, { moveCurrent: true })).state),
        (err: unknown) => err instanceof SecretsError && err.code === 'DENIED' && /was removed from/.test(err.message),
      );
      assertUnchanged(t.sb, clean, 'the refused transaction');
      assertFails(await t.asBob(['get', DB]), 5, leaks, /this identity \(\w+\) was removed from the vault/);

      // By hand: a correctly encrypted version and the CURRENT move, signed by bob, with a head
      // signed by bob claiming his next counter.
      const state = await repositoryFor(t.sb, t.alice).read(t.alice);
      const entry = entryOf(state, DB);
      const cipher = new SodiumValueCipher();
      const readers = readersOf(state, entry).map((m) => cipher.memberIdentity(m));
      const bobCtr = state.head.ctrs.get(t.bob.identity.id) ?? fail('bob wrote before his removal, so the head has his counter');
      const forge = async (ctr: number): Promise<Rec[]> => {
        const recs = recordsOf(t.sb.vault);
        const vaultId = vaultIdOf(recs);
        const id = randomUUID();
        const sealed = await cipher.seal(SecretBytes.fromString(forged.value), { vaultId, secretId: entry.secret.id, versionId: id, type: 'string' }, readers);
        const version: Rec = {
          kind: 'version',
          act: 'PutSecretValue',
          created: new Date().toISOString(),
          ct: sealed.ct,
          ctr,
          id,
          keys: Object.fromEntries(sealed.keys),
          n: sealed.n,
          secret: entry.secret.id,
          type: 'string',
        };
        await signAs(version, t.bob.identity, vaultId);
        const secret = find(recs, (r) => r.kind === 'secret' && r['name'] === DB, 'app/db');
        const stages = secret['stages'] as Record<string, string>;
        stages['PREVIOUS'] = stages['CURRENT'] as string;
        stages['CURRENT'] = id;
        secret['act'] = 'PutSecretValue';
        secret['ctr'] = ctr;
        await signAs(secret, t.bob.identity, vaultId);
        const versions = recs.filter((r) => r.kind === 'version' && r['secret'] === entry.secret.id);
        const at = recs.indexOf(versions[versions.length - 1] ?? secret) + 1;
        recs.splice(at, 0, version);
        return recs;
      };

      // (a) the head re-signed by bob.
      let tampered = await editVault(t.sb.vault, async () => {
        const recs = await forge(bobCtr + 1);
        await resignHead(recs, t.bob.identity, bobCtr + 1);
        return recs;
      });
      const removedHead = /^secrets: error: head record at line \d+ is signed by a removed member/;
      for (const args of [['get', DB], ['get', API], ['list'], ['verify']]) assertFails(await t.sb.run(args), 6, leaks, removedHead);
      assertFails(await t.sb.run(['--identity-file', carol.keyFile, 'get', DB]), 6, leaks, removedHead);
      assertUnchanged(t.sb, tampered, 'the refused commands');

      // (b) alice's head left as it was: the digest no longer matches.
      writeFileSync(t.sb.vault, clean);
      tampered = await editVault(t.sb.vault, () => forge(bobCtr));
      for (const args of [['get', DB], ['verify']]) {
        assertFails(await t.sb.run(args), 6, leaks, /added, removed or reordered|invalid signature|removed member|not a current member/);
      }
      assertUnchanged(t.sb, tampered, 'the refused commands');

      // (c) a colluding current member (carol, read-only) relays a version bob signed with his
      // old key and a counter his head entry already covers; her transaction signs the head.
      writeFileSync(t.sb.vault, clean);
      let relayed = '';
      await insiderWrite(t.sb, carol.identity, async (s) => {
        const f = await forgeVersion(s, DB, forged.value, { moveCurrent: false, signer: t.bob.identity, ctr: bobCtr });
        relayed = f.versionId;
        return f.state;
      });
      const file = readFileSync(t.sb.vault);
      const line = lineWhere(t.sb.vault, (r) => r.kind === 'version' && r['id'] === relayed, 'relayed version');
      equal(find(recordsOf(t.sb.vault), (r) => r['id'] === relayed, 'relayed')['by'], t.bob.identity.id, 'the relayed version is bob’s signature');
      const notMember = new RegExp(
        `version record at line ${line} \\(app/db\\) is not authorized: it is signed by ${t.bob.identity.id}, who is not a current member`,
      );
      assertFails(await t.sb.run(['get', DB, '--version-id', relayed]), 6, leaks, notMember);
      await assertVerifyRejects(t.sb, leaks, [notMember]);
      assertUnchanged(t.sb, file, 'the refused commands');
    }));

  // Admins and the root of trust.

  test('the creator cannot be removed, an admin cannot remove themselves, the last admin stays', () =>
    withTeam({}, async (t) => {
      const file = readFileSync(t.sb.vault);
      // Alone as admin: removing herself is refused, so the vault keeps its last admin.
      assertFails(await t.sb.run(['member', 'remove', 'alice', '--yes']), 2, t.leaks, /cannot remove yourself/);
      assertUnchanged(t.sb, file, 'refused member remove');

      const carol = await t.addMember('carol', 'admin');
      const asCarol = (args: readonly string[]): Promise<CliResult> => t.sb.run(['--identity-file', carol.keyFile, ...args]);
      const withCarol = readFileSync(t.sb.vault);
      assertFails(
        await asCarol(['member', 'remove', 'alice', '--yes']),
        2,
        t.leaks,
        /alice created this vault and is its root of trust; the creator cannot be removed/,
      );
      assertFails(await asCarol(['member', 'remove', 'carol', '--yes']), 2, t.leaks, /cannot remove yourself/);
      assertFails(await t.sb.run(['member', 'remove', 'alice', '--yes']), 2, t.leaks, /cannot remove yourself/);
      assertFails(await t.asBob(['member', 'remove', 'carol', '--yes']), 5, t.leaks, /only an admin can remove members/);
      assertUnchanged(t.sb, withCarol, 'refused member removals');

      // Carol (admin) adds dave and removes bob. Alice then removes carol: dave's membership
      // rests on carol's word, so alice must say she vouches for it (--confirm-records); then
      // what carol signed is re-signed by alice, so dave still chains to the creator.
      // Afterwards alice is the last admin and still cannot go.
      const dave = encodePublicIdentity(await identityFromSeed(generateSeed()));
      await asCarol(['member', 'add', 'dave', dave]).then((r) => equal(r.code, 0, r.stderr));
      await asCarol(['member', 'remove', 'bob', '--yes']).then((r) => equal(r.code, 0, r.stderr));
      equal(find(recordsOf(t.sb.vault), (r) => r.kind === 'member' && r['name'] === 'dave', 'dave')['by'], carol.identity.id);
      const beforeCarol = readFileSync(t.sb.vault);
      assertFails(await t.sb.run(['member', 'remove', 'carol', '--yes']), 4, t.leaks, /carol signed, as an admin, records still in force: member dave/);
      assertUnchanged(t.sb, beforeCarol, 'a removal that would leave dave on no admin’s word');
      await t.sb.ok(['member', 'remove', 'carol', '--yes', '--confirm-records']);
      const recs = recordsOf(t.sb.vault);
      deepEqual(
        recs.filter((r) => r['by'] === carol.identity.id),
        [],
        'nothing is left signed by carol',
      );
      equal(find(recs, (r) => r.kind === 'member' && r['name'] === 'dave', 'dave')['by'], t.alice.id);
      const members = JSON.parse(await t.sb.ok(['member', 'list', '--json'])) as { Members: { Name: string; Role: string }[] };
      deepEqual(
        members.Members.map((m) => [m.Name, m.Role]),
        [
          ['alice', 'admin'],
          ['dave', 'member'],
        ],
      );
      const last = readFileSync(t.sb.vault);
      assertFails(await t.sb.run(['member', 'remove', 'alice', '--yes']), 2, t.leaks, /cannot remove yourself/);
      assertFails(await asCarol(['member', 'remove', 'alice', '--yes']), 5, t.leaks, /was removed from the vault/);
      assertUnchanged(t.sb, last, 'refused removals of the last admin');
      await assertVerifyPasses(t.sb);
    }));
});
