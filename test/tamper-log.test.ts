/**
 * Tamper evidence of a format-2 vault file (the operation log, ADR 0018), end to end through the
 * built binary: the format-2 counterparts of test/tamper.test.ts, test/damaged-vault.test.ts and
 * test/small-order-keys.test.ts, which stay pinned to format 1. Every case builds a real vault
 * with `secrets init --format 2`, edits the file the way an attacker with write access to it
 * could, and checks that `get`, `list`, `describe`, `put`, `tag`, `doctor` and `verify` refuse
 * it with exit 6: nothing on stdout (doctor: a table whose integrity row fails with the same
 * message), one `secrets: error:` line and at most one `secrets: hint:` line on stderr, no stack
 * trace, no control character, no secret value anywhere; and the file, this machine's trust
 * state and its verified state left byte for byte as they were, with nothing beside the vault.
 *
 * Where a format-1 case has no meaning here (a head digest, a label stored in a record, a
 * ciphertext inside a signed record), the nearest format-2 attack stands in: an entry's payload
 * hash against its line, a payload line swapped or moved, an entry re-signed or edited, a value
 * whose AAD was made for another secret, version, type, vault or writer. Attackers hold no member
 * key unless a case says otherwise ("insider" cases sign with the vault's admin key and show that
 * the AAD binding alone still catches a moved or altered ciphertext).
 *
 * Already covered elsewhere, and not repeated here: any single-byte change to a file is refused
 * by the store or replay (test/op-log.test.ts "tampering"; test/op-codec.test.ts for one line);
 * an entry dropped mid-log, a live payload dropped, two entries reordered, a truncated log, an
 * old op re-appended, another vault's entries replayed, a removed member's ops, a value
 * re-attached by another writer (test/log-attacks.test.ts, `get` only); forged checkpoints and
 * migrations (test/compact-migrate.test.ts); the same attacks in memory (test/replay.test.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Entry, Payload } from '../src/core/ops.js';
import type { Identity } from '../src/core/ports.js';
import { toBase64 } from '../src/crypto/encoding.js';
import { fingerprint, generateSeed, identityFromSeed } from '../src/crypto/identity.js';
import { signEntry } from '../src/crypto/sign.js';
import { canonicalJson } from '../src/store/codec.js';
import { lineHash, signedEntry, signedText } from '../src/store/op-codec.js';
import { type CliResult, marker } from './support/cli.js';
import { explain, person, type Person } from './support/insider.js';
import { forgeOp as forge, logOf, text, value } from './support/log-insider.js';

type Marker = ReturnType<typeof marker>;
/** A parsed line: plain JSON, as an attacker with a text editor sees it. */
type Rec = Record<string, unknown> & { kind: string };

const DB = 'app/db';
const API = 'app/api';
/** C0/C1 controls other than the newlines that end lines (terminal escapes, CR, BEL…). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

// ---------------------------------------------------------------------------------------------
// Fixture: a format-2 vault of alice (its creator, an admin). app/db has three versions (the
// oldest unlabelled, PREVIOUS, CURRENT), app/api one, created between app/db's first and second:
//   1 header, 2 genesis, 3-5 CreateSecret app/db, 6-8 CreateSecret app/api,
//   9-11 PutSecretValue app/db (PREVIOUS), 12-14 PutSecretValue app/db (CURRENT).
// Each write is its payload lines (value, keys) and then its entry.

interface Fixture {
  readonly dir: string;
  readonly vault: string;
  readonly alice: Person;
  /** Values of app/db, oldest first (the last one is CURRENT). */
  readonly db: readonly Marker[];
  readonly api: Marker;
  /** Every encoding of every value stored, for leak checks. */
  readonly leaks: string[];
}

/** The fixture, its identity `key` if given (another vault of the same person). */
async function fixture(key?: string): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-tamper-log-'));
  const vault = join(dir, 'vault.yaml');
  const alice = await person('alice', vault, key);
  const db = [marker(), marker(), marker()] as const;
  const api = marker();
  await alice.ok(['init', '--format', '2']);
  await alice.ok(['create', DB, '--value-stdin', '--tag', 'env=prod'], { input: db[0].value });
  await alice.ok(['create', API, '--value-stdin', '--tag', 'team=web'], { input: api.value });
  await alice.ok(['put', DB, '--value-stdin'], { input: db[1].value });
  await alice.ok(['put', DB, '--value-stdin'], { input: db[2].value });
  // A read leaves the verified state that later reads start from, as on a machine in use.
  assert.equal(await alice.ok(['get', DB]), db[2].value);
  return { dir, vault, alice, db, api, leaks: [...db, api].flatMap((m) => m.encodings) };
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const f = await fixture();
  try {
    await fn(f);
  } finally {
    f.alice.sb.cleanup();
    rmSync(f.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The vault file as an attacker edits it: its lines without newlines, line 1 (the header) first.

function linesOf(vault: string): string[] {
  const lines = readFileSync(vault, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the vault file ends with a newline');
  return lines;
}

const write = (vault: string, lines: readonly string[]): void => writeFileSync(vault, `${lines.join('\n')}\n`);
const parse = (line: string): Rec => JSON.parse(line.slice(2)) as Rec;
/** A line for `rec` as the codec writes it (canonical JSON), valid or not. */
const lineOf = (rec: Rec): string => `- ${canonicalJson(rec as Parameters<typeof canonicalJson>[0])}`;

/** Index (0-based, header at 0) of the `n`th entry (0-based; negative from the end) writing `name` with `op`. */
function entryAt(lines: readonly string[], op: string, name: string, n = 0): number {
  const at = lines.flatMap((l, i) => (l.startsWith('- {"kind":"op"') && parse(l)['op'] === op && (parse(l)['body'] as Rec)['name'] === name ? [i] : []));
  const i = at.at(n);
  assert.ok(i !== undefined, `no ${op} of ${name} #${n}`);
  return i;
}

/** The entry that made app/db's CURRENT (the last put), PREVIOUS (the one before) and oldest version. */
const CURRENT_PUT = (l: readonly string[]): number => entryAt(l, 'PutSecretValue', DB, -1);
const PREVIOUS_PUT = (l: readonly string[]): number => entryAt(l, 'PutSecretValue', DB, -2);
const DB_CREATE = (l: readonly string[]): number => entryAt(l, 'CreateSecret', DB);
const API_CREATE = (l: readonly string[]): number => entryAt(l, 'CreateSecret', API);

/** The version (id, type, v, k) an entry at `i` introduces. */
function versionAt(lines: readonly string[], i: number): { version: string; type: string; v: string; k: string } {
  return (parse(lines[i] as string)['body'] as Rec)['value'] as { version: string; type: string; v: string; k: string };
}

/** Reads the file, lets `edit` change its lines in place (or return new ones), writes it back. */
async function tamper(f: Fixture, edit: (lines: string[]) => void | string[] | Promise<void | string[]>): Promise<Buffer> {
  const before = readFileSync(f.vault);
  const lines = linesOf(f.vault);
  write(f.vault, (await edit(lines)) ?? lines);
  const after = readFileSync(f.vault);
  assert.ok(!after.equals(before), 'the tamper step changed the file');
  return after;
}

/** Flips one bit of a canonical base64 field, re-encoding it canonically. */
function flipBit(b64: string, byte = 0, bit = 0): string {
  const bytes = Buffer.from(b64, 'base64');
  assert.equal(bytes.toString('base64'), b64, 'field is canonical base64');
  bytes[byte] = (bytes[byte] as number) ^ (1 << bit);
  return bytes.toString('base64');
}

/** A line whose JSON field `key` is replaced (the line is re-encoded canonically). */
function edited(line: string, edit: (rec: Rec) => void): string {
  const rec = parse(line);
  edit(rec);
  return lineOf(rec);
}

async function outsiderIdentity(): Promise<Identity> {
  return identityFromSeed(generateSeed());
}

// ---------------------------------------------------------------------------------------------
// What a refusal must leave: this machine's trust state and verified state, and the directory.

/** Every file below `dir` (relative path and bytes), or nothing if there is no such directory. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .filter((p) => statSync(join(dir, p)).isFile())
    .map((p) => `${relative(dir, join(dir, p))}\n${readFileSync(join(dir, p)).toString('base64')}`);
}

/** The trust state, the verified state and the vault's directory listing of `who`'s machine. */
function machine(f: Fixture, who: Person = f.alice): string {
  const trust = tree(join(who.sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust'));
  const verified = tree(join(who.sb.home, '.cache', 'secrets', 'state'));
  return JSON.stringify({ trust, verified, listing: readdirSync(dirname(f.vault)).sort() });
}

// ---------------------------------------------------------------------------------------------
// Assertions.

/** Exit 6, empty stdout, one error line (+ optional hint), no stack, no controls, no value in the output. */
function assertRefused(r: CliResult, leaks: readonly string[], message?: RegExp, what = ''): string {
  const ctx = `${what}: exit ${r.code}, stdout ${r.stdoutBytes.length} bytes, stderr:\n${r.stderr}`;
  assert.equal(r.signal, null, ctx);
  assert.equal(r.code, 6, ctx);
  assert.equal(r.stdoutBytes.length, 0, `stdout must be empty, got ${JSON.stringify(r.stdout.slice(0, 200))}`);
  assert.ok(r.stderr.endsWith('\n'), ctx);
  const lines = r.stderr.slice(0, -1).split('\n');
  assert.ok(lines.length === 1 || lines.length === 2, `one error line and at most one hint line: ${ctx}`);
  assert.match(lines[0] as string, /^secrets: error: \S/, ctx);
  if (lines.length === 2) assert.match(lines[1] as string, /^secrets: hint: \S/, ctx);
  assert.ok(!/^\s+at /m.test(r.stderr), `no stack trace: ${ctx}`);
  assert.ok(!/internal error/i.test(r.stderr), `not an internal error: ${ctx}`);
  assert.doesNotMatch(r.stderr, CONTROL, `no control characters on stderr: ${ctx}`);
  for (const leak of leaks) assert.ok(!r.stderr.includes(leak), 'stderr never contains a secret value');
  if (message) assert.match(lines[0] as string, message, ctx);
  return (lines[0] as string).replace(/^secrets: error: /, '');
}

/**
 * Reads of the touched secrets (CURRENT, PREVIOUS, JSON), `list`, `describe`, writes (`put`,
 * `tag`), `doctor` and `verify` all refuse the tampered file with exit 6 and one message, and
 * nothing changes: the file stays `tampered`, this machine's trust state and verified state stay
 * as they were. `intact` names secrets none of whose lines changed: a `get` of one is served
 * from the verified state without reading the rest of the file (ADR 0018 §5), so it may print
 * the value, but only the authentic one.
 */
async function assertAllRefused(f: Fixture, tampered: Buffer, message?: RegExp, intact: readonly string[] = []): Promise<string> {
  const before = machine(f);
  const fresh = marker();
  const leaks = [...f.leaks, ...fresh.encodings];
  const touched = [DB, API].filter((n) => !intact.includes(n));
  const target = touched[0] as string;
  const commands: [string[], string?][] = [
    ...touched.flatMap((n) => [[['get', n]], [['get', n, '--json']]] as [string[]][]),
    ...(touched.includes(DB) ? [[['get', DB, '--version-stage', 'PREVIOUS']] as [string[]]] : []),
    [['list']],
    [['describe', target]],
    [['put', target, '--value-stdin'], fresh.value],
    [['tag', target, 'env=staging']],
    [['verify']],
  ];
  let problem: string | undefined;
  for (const [args, input] of commands) {
    const r = await f.alice.run(args, input === undefined ? {} : { input });
    const first = assertRefused(r, leaks, message, `secrets ${args.join(' ')}`);
    problem ??= first;
    assert.equal(first, problem, `get and ${args.join(' ')} report the same problem`);
    assert.ok(readFileSync(f.vault).equals(tampered), `secrets ${args.join(' ')} must not rewrite the tampered vault file`);
  }
  for (const name of intact) {
    const r = await f.alice.run(['get', name]);
    if (r.code === 0) assert.equal(r.stdout, (name === DB ? f.db[2] : f.api)?.value, `get ${name} serves only the authentic value`);
    else assertRefused(r, leaks, message, `secrets get ${name}`);
  }
  const doctor = await f.alice.run(['doctor']);
  const where = explain('secrets doctor', doctor);
  assert.equal(doctor.code, 6, where);
  assert.match(doctor.stdout, /^integrity\s+fail\s+\S/m, `doctor names no failed integrity check; ${where}`);
  assert.ok(doctor.stdout.includes(problem as string), `doctor does not name the problem get reported (${problem}); ${where}`);
  assert.doesNotMatch(doctor.stdout + doctor.stderr, /\n\s+at |internal error/, where);
  assert.doesNotMatch(doctor.stdout, CONTROL, where);
  for (const leak of leaks) assert.ok(!doctor.stdout.includes(leak) && !doctor.stderr.includes(leak), 'doctor never prints a value');
  assert.ok(readFileSync(f.vault).equals(tampered), 'doctor must not rewrite the tampered vault file');
  assert.equal(machine(f), before, "this machine's trust state, verified state and the vault's directory are unchanged");
  return problem as string;
}

/** `get …` fails to decrypt: exit 6, nothing printed, the file unchanged (the history itself is valid). */
async function assertUndecryptable(f: Fixture, args: readonly string[], leaks: readonly string[] = []): Promise<void> {
  const file = readFileSync(f.vault);
  assertRefused(await f.alice.run(args), [...f.leaks, ...leaks], /failed to decrypt/);
  assert.ok(readFileSync(f.vault).equals(file), `secrets ${args.join(' ')} must not write`);
}

// ---------------------------------------------------------------------------------------------

describe('tampered format-2 vault files are refused with exit 6', { concurrency: 6 }, () => {
  // 1. A flipped bit in a version's ciphertext: the value line no longer hashes to what its entry names.

  it('a flipped bit in the CURRENT value line (plain edit): its entry names a payload that is gone', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const at = CURRENT_PUT(l) - 2;
        l[at] = edited(l[at] as string, (v) => void (v['ct'] = flipBit(v['ct'] as string, 3, 5)));
      });
      await assertAllRefused(f, tampered, /payload/, [API]);
    }));

  it("a flipped bit in a value line, the entry's hash of it updated: the entry's signature no longer verifies", () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const entry = CURRENT_PUT(l);
        l[entry - 2] = edited(l[entry - 2] as string, (v) => void (v['ct'] = flipBit(v['ct'] as string, 0, 0)));
        // The attacker can hash, but not sign.
        l[entry] = edited(l[entry] as string, (e) => void (((e['body'] as Rec)['value'] as Rec)['v'] = lineHash((l[entry - 2] as string).slice(2))));
      });
      await assertAllRefused(f, tampered, /signature/);
    }));

  it('a flipped bit in the last byte (Poly1305 tag) of a ciphertext', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const at = API_CREATE(l) - 2;
        l[at] = edited(l[at] as string, (v) => {
          const len = Buffer.from(v['ct'] as string, 'base64').length;
          v['ct'] = flipBit(v['ct'] as string, len - 1, 7);
        });
      });
      await assertAllRefused(f, tampered, /payload/, [DB]);
    }));

  it('insider: a put validly signed by the admin whose ciphertext has a flipped bit fails to decrypt; the rest still reads', () =>
    withFixture(async (f) => {
      const log = await logOf(f.vault);
      const id = secretIdOf(linesOf(f.vault), DB);
      const planted = marker();
      const v = await value(log.G, id, f.alice.identity, [f.alice.identity], planted.value);
      const flipped: Payload = { ...(v.payloads[0] as Payload & { kind: 'value' }), ct: flipBit((v.payloads[0] as Payload & { kind: 'value' }).ct, 1, 1) };
      const ref = { ...v.ref, v: lineHash(text(flipped).slice(2, -1)) };
      await forge(f.vault, f.alice.identity, 'PutSecretValue', { secret: id, name: DB, value: ref }, { payloads: [flipped, v.payloads[1] as Payload] });
      await assertUndecryptable(f, ['get', DB], planted.encodings);
      assert.equal(await f.alice.ok(['get', DB, '--version-stage', 'PREVIOUS']), f.db[2]?.value);
      assert.equal(await f.alice.ok(['get', API]), f.api.value);
    }));

  // 2. Ciphertexts moved between secrets and between versions.

  it("a value line copied from one secret over another's", () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        l[CURRENT_PUT(l) - 2] = l[API_CREATE(l) - 2] as string;
      });
      await assertAllRefused(f, tampered, /payload/, [API]);
    }));

  it('value lines swapped between two versions of the same secret', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const [a, b] = [CURRENT_PUT(l) - 2, PREVIOUS_PUT(l) - 2];
        [l[a], l[b]] = [l[b] as string, l[a] as string];
      });
      await assertAllRefused(f, tampered, /payload/, [API]);
    }));

  it("insider: a put validly signed by the admin naming app/api's value, or an older version's, fails to decrypt (the AAD binds secret and version)", () =>
    withFixture(async (f) => {
      const lines = linesOf(f.vault);
      const id = secretIdOf(lines, DB);
      const api = versionAt(lines, API_CREATE(lines));
      const previous = versionAt(lines, PREVIOUS_PUT(lines));
      const moved = { version: '00000000-0000-4000-8000-000000000001', type: 'string' as const, v: api.v, k: api.k };
      const swapped = { version: '00000000-0000-4000-8000-000000000002', type: 'string' as const, v: previous.v, k: previous.k };
      // The payload lines are copied in front of each entry, as a client writes them.
      const copies = (at: number): Payload[] =>
        [lines[at - 2], lines[at - 1]].map(
          (l) => JSON.parse((l as string).slice(2), (k, x: unknown) => (k === 'keys' ? new Map(Object.entries(x as object)) : x)) as Payload,
        );
      await forge(f.vault, f.alice.identity, 'PutSecretValue', { secret: id, name: DB, value: moved }, { payloads: copies(API_CREATE(lines)) });
      await forge(f.vault, f.alice.identity, 'PutSecretValue', { secret: id, name: DB, value: swapped }, { payloads: copies(PREVIOUS_PUT(lines)) });
      await assertUndecryptable(f, ['get', DB, '--version-id', moved.version]);
      await assertUndecryptable(f, ['get', DB, '--version-id', swapped.version]);
      // The sources of the moves still read: only the moved copies fail.
      assert.equal(await f.alice.ok(['get', API]), f.api.value);
      assert.equal(await f.alice.ok(['get', DB, '--version-id', previous.version]), f.db[1]?.value);
    }));

  it('insider: a put whose value AAD was made for another secret, version, type, vault or writer fails to decrypt', () =>
    withFixture(async (f) => {
      const log = await logOf(f.vault);
      const lines = linesOf(f.vault);
      const id = secretIdOf(lines, DB);
      const other = await outsiderIdentity();
      const cases = [
        ['a well-made value (control)', {}],
        ['another secret', { secret: secretIdOf(lines, API) }],
        ['another version', { version: versionAt(lines, CURRENT_PUT(lines)).version }],
        ['another type', { type: 'binary' as const }],
        ['another vault', { vault: lineHash('- {"kind":"op"}') }],
        ['another writer', { writer: other.id }],
      ] as const;
      const planted = cases.map(() => marker());
      const versions: string[] = [];
      for (const [i, [, aad]] of cases.entries()) {
        const v = await value(log.G, id, f.alice.identity, [f.alice.identity], planted[i]?.value as string, aad);
        await forge(f.vault, f.alice.identity, 'PutSecretValue', { secret: id, name: DB, value: v.ref }, { payloads: v.payloads });
        versions.push(v.ref.version);
      }
      assert.equal(await f.alice.ok(['get', DB, '--version-id', versions[0] as string]), planted[0]?.value, 'the forger makes values that decrypt');
      for (const [i, [what]] of cases.entries()) {
        if (i === 0) continue;
        await assertUndecryptable(
          f,
          ['get', DB, '--version-id', versions[i] as string],
          planted.flatMap((m) => m.encodings),
        ).catch((err: unknown) => {
          throw new Error(`AAD for ${what}: ${String(err)}`);
        });
      }
    }));

  // 3. Edited tags and staging labels: an entry changed without its signer's key.

  it('an edited tag value in a signed entry', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const at = DB_CREATE(l);
        l[at] = edited(l[at] as string, (e) => void ((e['body'] as Rec)['tags'] = { env: 'dev' }));
      });
      await assertAllRefused(f, tampered, undefined, [API]);
    }));

  it("CURRENT moved back: the last put edited to name the previous version's payloads (serving an old value)", () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const previous = versionAt(l, PREVIOUS_PUT(l));
        const at = CURRENT_PUT(l);
        l[at] = edited(l[at] as string, (e) => {
          const v = (e['body'] as Rec)['value'] as Rec;
          v['v'] = previous.v;
          v['k'] = previous.k;
        });
        // Its own payload lines go, so nothing is left unreferenced.
        l.splice(at - 2, 2);
      });
      await assertAllRefused(f, tampered);
    }));

  it('a staging label added to a signed put, and one removed by an entry whose signature is copied from another', () =>
    withFixture(async (f) => {
      const pristine = readFileSync(f.vault);
      const added = await tamper(f, (l) => {
        const at = CURRENT_PUT(l);
        l[at] = edited(l[at] as string, (e) => void ((e['body'] as Rec)['stages'] = ['AWSPENDING', 'CURRENT']));
      });
      await assertAllRefused(f, added);
      writeFileSync(f.vault, pristine);
      const removed = await tamper(f, (l) => {
        const last = parse(l[CURRENT_PUT(l)] as string);
        const entry: Rec = {
          kind: 'op',
          op: 'UpdateSecretVersionStage',
          body: { secret: secretIdOf(l, DB), name: DB, stage: 'PREVIOUS' },
          by: last['by'],
          seq: (last['seq'] as number) + 1,
          parents: [lineHash((l[CURRENT_PUT(l)] as string).slice(2))],
          at: last['at'],
          sig: last['sig'],
        };
        l.push(lineOf(entry));
      });
      await assertAllRefused(f, removed, /signature/);
    }));

  // 4. Entries signed by a key that is not a member's.

  it('an op signed by a non-member, appended', () =>
    withFixture(async (f) => {
      const outsider = await outsiderIdentity();
      await forge(f.vault, outsider, 'TagResource', { secret: secretIdOf(linesOf(f.vault), DB), name: DB, tags: new Map([['owner', 'mallory']]) });
      await assertAllRefused(f, readFileSync(f.vault), new RegExp(outsider.id));
    }));

  it('an entry re-signed in place by a non-member: refused here, and by a machine that never saw the vault', () =>
    withFixture(async (f) => {
      const outsider = await outsiderIdentity();
      const tampered = await tamper(f, (l) => {
        const at = CURRENT_PUT(l);
        const rec = parse(l[at] as string);
        const G = lineHash((l[1] as string).slice(2));
        const unsigned = { ...rec, by: outsider.id, seq: 1 } as Rec;
        delete unsigned['sig'];
        unsigned['sig'] = toBase64(signEntry(outsider, G, signedText({ ...unsigned, sig: '' } as unknown as Entry)));
        l[at] = lineOf(unsigned);
      });
      await assertAllRefused(f, tampered);
      // A first contact (no trust state) judges the entry itself: its signer is no member.
      const elsewhere = await person('alice-elsewhere', f.vault, f.alice.key);
      try {
        assertRefused(await elsewhere.run(['get', DB]), f.leaks, new RegExp(outsider.id));
        assert.ok(readFileSync(f.vault).equals(tampered));
      } finally {
        elsewhere.sb.cleanup();
      }
    }));

  it('a non-member cannot enrol itself: its own AddMember (as admin), then CURRENT moved back and tags changed', () =>
    withFixture(async (f) => {
      const outsider = await outsiderIdentity();
      const lines = linesOf(f.vault);
      const id = secretIdOf(lines, DB);
      const keys = { id: outsider.id, name: 'mallory', enc: toBase64(outsider.enc), sign: toBase64(outsider.sign) };
      await forge(f.vault, outsider, 'AddMember', { member: keys, roles: ['admin'] });
      await forge(f.vault, outsider, 'UpdateSecretVersionStage', {
        secret: id,
        name: DB,
        stage: 'CURRENT',
        version: versionAt(lines, PREVIOUS_PUT(lines)).version,
      });
      await forge(f.vault, outsider, 'TagResource', { secret: id, name: DB, tags: new Map([['owner', 'mallory']]) });
      await assertAllRefused(f, readFileSync(f.vault), new RegExp(outsider.id));
    }));

  // 5. Rollback to an older copy of the file (test/log-attacks.test.ts checks `get`; here every command).

  it('an older copy of the vault file put back is refused as a rollback by every command', () =>
    withFixture(async (f) => {
      const old = readFileSync(f.vault);
      const extra = [marker(), marker()];
      for (const m of extra) await f.alice.ok(['put', DB, '--value-stdin'], { input: m.value });
      f.leaks.push(...extra.flatMap((m) => m.encodings));
      writeFileSync(f.vault, old);
      await assertAllRefused(f, old, /rolled back|lost entry/);
    }));

  // 6. Reordered, deleted and moved lines.

  it('two writes (entries with their payload lines) swapped in the file', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const [a, b] = [API_CREATE(l), PREVIOUS_PUT(l)];
        return [...l.slice(0, a - 2), ...l.slice(b - 2, b + 1), ...l.slice(a - 2, a + 1), ...l.slice(b + 1)];
      });
      await assertAllRefused(f, tampered, /comes later/);
    }));

  it("the oldest, unlabelled version's value line deleted (no read of CURRENT needs it)", () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => void l.splice(DB_CREATE(l) - 2, 1));
      await assertAllRefused(f, tampered, /payload/);
    }));

  it('a whole secret (its creation and payloads) cut out of the middle: get of it is exit 6, not "not found"', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => void l.splice(API_CREATE(l) - 2, 3));
      await assertAllRefused(f, tampered, /missing|comes later/);
    }));

  it("a payload line moved away from its entry's write, to the top of the file", () =>
    withFixture(async (f) => {
      const tampered = await tamper(f, (l) => {
        const [line] = l.splice(API_CREATE(l) - 2, 1);
        l.splice(1, 0, line as string);
      });
      await assertAllRefused(f, tampered, /line 2\b/, [DB]);
    }));

  // 7. Truncation and garbage: a torn append is a crash, anything else is damage.

  it('a torn last line from a crashed append is ignored by reads and truncated by the next write, and only it', () =>
    withFixture(async (f) => {
      const log = await logOf(f.vault);
      const id = secretIdOf(linesOf(f.vault), DB);
      const lost = marker();
      const v = await value(log.G, id, f.alice.identity, [f.alice.identity], lost.value);
      const entry = signedEntry<Entry>(f.alice.identity, log.G, {
        kind: 'op',
        op: 'PutSecretValue',
        body: { secret: id, name: DB, value: v.ref },
        by: f.alice.identity.id,
        seq: (log.seqs.get(f.alice.identity.id) ?? 0) + 1,
        parents: log.heads,
        at: log.at,
      });
      const batch = [...v.payloads, entry].map(text).join('');
      const original = readFileSync(f.vault);
      const torn = Buffer.concat([original, Buffer.from(batch.slice(0, batch.length - 30))]);
      writeFileSync(f.vault, torn);
      assert.equal(await f.alice.ok(['get', DB]), f.db[2]?.value);
      assert.deepEqual((await f.alice.ok(['list'])).split('\n').filter(Boolean), [API, DB]);
      assert.equal((await f.alice.run(['verify'])).code, 0);
      assert.ok(readFileSync(f.vault).equals(torn), 'reads leave the torn bytes');
      const next = marker();
      await f.alice.ok(['put', DB, '--value-stdin'], { input: next.value });
      const after = readFileSync(f.vault);
      assert.ok(after.subarray(0, original.length).equals(original), 'the write keeps every complete line');
      assert.ok(!after.includes(Buffer.from(v.ref.v)), 'the torn write is gone');
      assert.equal(await f.alice.ok(['get', DB]), next.value);
      assert.equal(await f.alice.ok(['get', DB, '--version-stage', 'PREVIOUS']), f.db[2]?.value);
    }));

  it('the last entry cut mid-line (a truncated file) is refused: this machine verified it', () =>
    withFixture(async (f) => {
      const text = readFileSync(f.vault, 'utf8');
      writeFileSync(f.vault, text.slice(0, text.length - 40));
      await assertAllRefused(f, readFileSync(f.vault), /lost entry|rolled back/);
    }));

  it('a garbage line in the middle, or after the last line, names its line', () =>
    withFixture(async (f) => {
      const pristine = readFileSync(f.vault);
      const middle = await tamper(f, (l) => void l.splice(API_CREATE(l) + 1, 0, 'garbage'));
      await assertAllRefused(f, middle, /damaged at line 9\b/);
      writeFileSync(f.vault, pristine);
      const after = await tamper(f, (l) => void l.push('garbage'));
      await assertAllRefused(f, after, /damaged at line 15\b/);
    }));

  // 8. A different vault copied over the path.

  it('a different format-2 vault copied over the path is refused: this machine pinned which vault lives there', async () => {
    // The trust state pins, per path, the vault id this machine used there. Another vault put in
    // its place is refused with exit 6 by reads and writes alike: someone else's (whose members
    // do not include us), or one of our own, or a crafted one listing our key as a member so that
    // our next write would seal to its admin. Nothing of it is decrypted, printed or written.
    const mine = await fixture();
    const theirs = await fixture();
    const ours = await fixture(mine.alice.key);
    try {
      for (const other of [theirs, ours]) {
        const leaks = [...mine.leaks, ...other.leaks];
        copyFileSync(other.vault, mine.vault);
        const swapped = readFileSync(mine.vault);
        await assertAllRefused({ ...mine, leaks }, swapped, /is vault [0-9a-f-]+, but this machine used vault [0-9a-f-]+ there/);
        const fresh = marker();
        const r = await mine.alice.run(['create', 'new/one', '--value-stdin'], { input: fresh.value });
        assertRefused(r, [...leaks, ...fresh.encodings], /this machine used vault/);
        assert.ok(readFileSync(mine.vault).equals(swapped), 'the foreign vault is not written');
      }
    } finally {
      for (const f of [mine, theirs, ours]) {
        f.alice.sb.cleanup();
        rmSync(f.dir, { recursive: true, force: true });
      }
    }
  });
});

/** The id of secret `name` (from the entry that created it). */
function secretIdOf(lines: readonly string[], name: string): string {
  return (parse(lines[entryAt(lines, 'CreateSecret', name)] as string)['body'] as Rec)['secret'] as string;
}

// ---------------------------------------------------------------------------------------------
// test/damaged-vault.test.ts, for format 2: truncated copies, garbage after a valid header, and
// hostile stage labels. One vault; each case puts its damage in place of the file.

const HEADER = '# secrets vault, format 2. Managed by the secrets CLI; do not edit by hand.\n';

describe('a damaged format-2 vault file is refused by get, list, put and doctor, and left as it is', () => {
  let f: Fixture;
  let good: Buffer;
  let goodLines: string[];

  before(async () => {
    f = await fixture();
    good = readFileSync(f.vault);
    goodLines = linesOf(f.vault);
  });
  after(() => {
    f.alice.sb.cleanup();
    rmSync(f.dir, { recursive: true, force: true });
  });

  /** Puts `bytes` in place of the vault and checks every command refuses it. */
  async function damaged(bytes: string | Buffer, message: RegExp): Promise<void> {
    const damage = Buffer.from(bytes);
    writeFileSync(f.vault, damage);
    await assertAllRefused(f, damage, message);
  }

  /** The file with its lines from `lines` (header included). */
  const file = (lines: readonly string[]): string => `${lines.join('\n')}\n`;

  it('(a) truncated copies: at random lengths, inside the header, at an entry boundary and inside a write', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: HEADER.length, max: good.length - 1 }), async (n) => {
        await damaged(good.subarray(0, n), /lost entry \S+, which this machine verified|was rolled back|line 2: no complete entry/);
      }),
      { numRuns: 3, endOnFailure: true },
    );
    await damaged(good.subarray(0, 20), /damaged at line 1\b/);
    // Whole lines only: a valid, shorter history, or one whose last write lost its entry.
    await damaged(file(goodLines.slice(0, PREVIOUS_PUT(goodLines) + 1)), /lost entry|rolled back/);
    await damaged(file(goodLines.slice(0, CURRENT_PUT(goodLines) - 1)), /lost entry|rolled back/);
  });

  describe('(d) a valid header followed by garbage or tampered lines', () => {
    const genesis = (): string => goodLines[1] as string;

    it('a line of plain text', () => damaged(`${HEADER}garbage\n`, /damaged at line 2\b/));
    it('a line that is not JSON', () => damaged(file([...goodLines.slice(0, 2), '- {not json']), /damaged at line 3\b/));
    it('an entry with missing fields', () => damaged(file([...goodLines.slice(0, 2), '- {"kind":"op"}']), /damaged at line 3\b/));
    it('a header and no entries', () => damaged(HEADER, /damaged at line 2: no complete entry/));
    it('CRLF line endings', () => damaged(good.toString('utf8').replace(/\n/g, '\r\n'), /damaged at line \d+/));
    it('a line over the 1 MiB limit', () =>
      damaged(file([...goodLines.slice(0, 2), `- {"kind":"value","ct":"${'A'.repeat(2 * 1024 * 1024)}"}`]), /damaged at line 3\b/));
    it('deeply nested JSON in a line (integrity error, not an internal error)', () =>
      damaged(file([...goodLines.slice(0, 2), `- {"kind":${'['.repeat(100_000)}${']'.repeat(100_000)}}`]), /damaged at line 3\b/));

    it('binary junk in place of a payload line', async () => {
      const junk = Buffer.from([0x2d, 0x20, 0x00, 0x01, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 0x80]);
      const lines = goodLines.map((l) => Buffer.from(`${l}\n`));
      const at = API_CREATE(goodLines) - 1;
      lines[at] = Buffer.concat([junk, Buffer.from('\n')]);
      await damaged(Buffer.concat(lines), new RegExp(`damaged at line ${at + 1}\\b`));
    });

    it('an unknown field whose name holds a newline and terminal escapes', async () => {
      const key = JSON.stringify('\n\u001b[2J\u001b[31msecrets: hint: run rm -rf ~');
      const line = genesis().replace('{"kind":"op",', `{"kind":"op",${key}:1,`);
      await damaged(file([goodLines[0] as string, line, ...goodLines.slice(2)]), /damaged at line 2\b/);
    });

    it('a stage label that holds a newline and terminal escapes, edited into an entry or signed by the admin, never reaches the terminal', async () => {
      const hostile = '\u001b[2J\nsecrets: hint: all is well';
      // Edited into the last put: the codec refuses the label before any signature is checked.
      const at = CURRENT_PUT(goodLines);
      const edit = edited(goodLines[at] as string, (e) => void ((e['body'] as Rec)['stages'] = [hostile]));
      await damaged(file(goodLines.map((l, i) => (i === at ? edit : l))), new RegExp(`damaged at line ${at + 1}\\b.*stag`));
      // Signed by the admin's own key (a modified client): the same, the signature does not help.
      writeFileSync(f.vault, good);
      const log = await logOf(f.vault);
      const unsigned = {
        kind: 'op',
        op: 'UpdateSecretVersionStage',
        body: { secret: secretIdOf(goodLines, DB), name: DB, stage: hostile, version: versionAt(goodLines, PREVIOUS_PUT(goodLines)).version },
        by: f.alice.identity.id,
        seq: (log.seqs.get(f.alice.identity.id) ?? 0) + 1,
        parents: log.heads,
        at: log.at,
      };
      const sig = toBase64(signEntry(f.alice.identity, log.G, signedText({ ...unsigned, sig: '' } as unknown as Entry)));
      await damaged(Buffer.concat([good, Buffer.from(`${lineOf({ ...unsigned, sig })}\n`)]), new RegExp(`damaged at line ${goodLines.length + 1}\\b.*stag`));
    });
  });
});

// ---------------------------------------------------------------------------------------------
// test/small-order-keys.test.ts, for format 2: a vault whose history already enrols a member with
// a key of small order (an AddMember an older client signed without checking the keys).

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

/** The Ed25519 identity point (y = 1) and base point B. */
const IDENTITY = le(1n);
const BASE = Buffer.from('5866666666666666666666666666666666666666666666666666666666666666', 'hex');

/** alice (an admin) signs an AddMember of mallory with these keys, as an unchecking client would; mallory's id. */
async function enrol(f: Fixture, keys: { enc: Uint8Array; sign: Uint8Array }): Promise<string> {
  const id = await fingerprint(keys.enc, keys.sign);
  await forge(f.vault, f.alice.identity, 'AddMember', {
    member: { id, name: 'mallory', enc: toBase64(keys.enc), sign: toBase64(keys.sign) },
    roles: ['admin'],
  });
  return id;
}

describe('a format-2 vault whose history holds a member with a small-order key', { concurrency: 2 }, () => {
  it('refuses ops forged in the name of a member whose signing key is the identity point', () =>
    withFixture(async (f) => {
      const mallory = await outsiderIdentity();
      const malloryId = await enrol(f, { enc: mallory.enc, sign: IDENTITY });
      assert.equal(await f.alice.ok(['get', DB]), f.db[2]?.value, 'the enrolled vault is valid');
      // Mallory writes a new CURRENT version of app/db, sealed to both, signed with the universal
      // signature (R = B, S = 1), which satisfies the unchecked equation for every message.
      const log = await logOf(f.vault);
      const id = secretIdOf(linesOf(f.vault), DB);
      const planted = marker();
      const v = await value(log.G, id, { ...mallory, id: malloryId }, [f.alice.identity, { ...mallory, id: malloryId }], planted.value);
      const sig = Buffer.alloc(64);
      BASE.copy(sig, 0);
      sig[32] = 1;
      const entry = {
        kind: 'op',
        op: 'PutSecretValue',
        body: { secret: id, name: DB, value: v.ref },
        by: malloryId,
        seq: 1,
        parents: log.heads,
        at: log.at,
        sig: sig.toString('base64'),
      } as Entry;
      writeFileSync(f.vault, Buffer.concat([readFileSync(f.vault), Buffer.from([...v.payloads, entry].map(text).join(''))]));
      const forged = readFileSync(f.vault);
      const refusal = /signature does not verify/;
      const r = await f.alice.run(['get', DB]);
      assertRefused(r, [...f.leaks, ...planted.encodings], refusal);
      assertRefused(await f.alice.run(['put', DB, '--value-stdin'], { input: 'x' }), f.leaks, refusal);
      assert.ok(readFileSync(f.vault).equals(forged), 'a refused write leaves the file as it was');
    }));

  it('refuses to seal a data key to a member whose encryption key is of small order: exit 6, nothing written', () =>
    withFixture(async (f) => {
      const mallory = await outsiderIdentity();
      await enrol(f, { enc: le(0n), sign: mallory.sign });
      const before = readFileSync(f.vault);
      const r = await f.alice.run(['put', DB, '--value-stdin'], { input: marker().value });
      assertRefused(r, f.leaks, /encryption key of small order/);
      assert.ok(readFileSync(f.vault).equals(before), 'the vault file must not change');
    }));
});
