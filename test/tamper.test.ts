/**
 * Tamper evidence of the vault file, end to end through the built binary (docs/vault-format.md, ADR
 * 0002). Every case builds a real vault, edits the file the way an attacker with write access to it
 * could, and checks that the CLI refuses with exit 6: nothing on stdout, one `secrets: error:` line
 * (and at most one `secrets: hint:` line) on stderr, no stack trace, no secret value anywhere in
 * the output, and, for writes, the tampered file left byte for byte as it was (a damaged file is
 * reported, never rewritten).
 *
 * Attackers here hold no member key unless a case says otherwise ("insider" cases use the
 * member's own key to re-sign, to show that the AEAD binding alone still catches a moved or
 * altered ciphertext).
 */
import { describe, test } from 'node:test';
import { deepEqual, equal, fail, match, ok } from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type CliResult, type Sandbox, initialisedSandbox, marker, FORMAT_1 } from './support/cli.js';
import { canonicalJson } from '../src/store/codec.js';
import { decodeKey, generateSeed, identityFromSeed } from '../src/crypto/identity.js';
import { toBase64 } from '../src/crypto/encoding.js';
import type { Identity } from '../src/core/ports.js';
import { signRecord } from './support/format1-writer.js';

type Marker = ReturnType<typeof marker>;
/** A parsed record line: plain JSON, as an attacker with a text editor sees it. */
type Rec = Record<string, unknown> & { kind: string };

const DB = 'app/db';
const API = 'app/api';

// ---------------------------------------------------------------------------------------------
// Fixture: a vault with two secrets; app/db has three versions (oldest unlabelled, PREVIOUS,
// CURRENT), app/api has one. File order: vault, member, head, app/api + 1 version, app/db + 3.

interface Fixture {
  readonly sb: Sandbox;
  /** Values of app/db, oldest first (the last one is CURRENT). */
  readonly db: readonly Marker[];
  readonly api: Marker;
  /** Every encoding of every value stored, for leak checks. */
  readonly leaks: string[];
}

async function fixture(): Promise<Fixture> {
  const sb = await initialisedSandbox(FORMAT_1);
  const db = [marker(), marker(), marker()] as const;
  const api = marker();
  await sb.ok(['create', DB, '--value-stdin', '--tag', 'env=prod'], { input: db[0].value });
  await sb.ok(['put', DB, '--value-stdin'], { input: db[1].value });
  await sb.ok(['put', DB, '--value-stdin'], { input: db[2].value });
  await sb.ok(['create', API, '--value-stdin', '--tag', 'team=web'], { input: api.value });
  return { sb, db, api, leaks: [...db, api].flatMap((m) => m.encodings) };
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const f = await fixture();
  try {
    await fn(f);
  } finally {
    f.sb.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// The vault file as an attacker edits it.

interface VaultText {
  readonly header: string;
  readonly recs: Rec[];
}

function readVault(path: string): VaultText {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  equal(lines.pop(), '', 'the vault file ends with a newline');
  const [header, ...rest] = lines;
  if (header === undefined || !header.startsWith('#')) return fail('line 1 is a comment');
  return {
    header,
    recs: rest.map((l) => {
      ok(l.startsWith('- '), `record line: ${l.slice(0, 40)}`);
      return JSON.parse(l.slice(2)) as Rec;
    }),
  };
}

function lineOf(rec: Rec): string {
  return `- ${canonicalJson(rec as Parameters<typeof canonicalJson>[0])}`;
}

function writeVault(path: string, v: VaultText): void {
  writeFileSync(path, `${v.header}\n${v.recs.map((r) => `${lineOf(r)}\n`).join('')}`);
}

/** Reads, lets `edit` change the records in place (or return new ones), writes back. */
async function tamper(sb: Sandbox, edit: (v: VaultText) => void | Rec[] | Promise<void | Rec[]>): Promise<Buffer> {
  const v = readVault(sb.vault);
  const before = readFileSync(sb.vault);
  const replaced = await edit(v);
  const next = replaced ? { header: v.header, recs: replaced } : v;
  writeVault(sb.vault, next);
  const after = readFileSync(sb.vault);
  ok(!after.equals(before), 'the tamper step changed the file');
  return after;
}

function vaultId(v: VaultText): string {
  const rec = v.recs.find((r) => r.kind === 'vault');
  if (!rec) return fail('no vault record');
  return rec['id'] as string;
}

function head(v: VaultText): Rec {
  const rec = v.recs.find((r) => r.kind === 'head');
  if (!rec) return fail('no head record');
  return rec;
}

function secretRec(v: VaultText, name: string): Rec {
  const rec = v.recs.find((r) => r.kind === 'secret' && r['name'] === name);
  if (!rec) return fail(`no secret ${name}`);
  return rec;
}

function stages(secret: Rec): Record<string, string> {
  return secret['stages'] as Record<string, string>;
}

function versionRec(v: VaultText, name: string, label: string): Rec {
  const secret = secretRec(v, name);
  const id = stages(secret)[label];
  const rec = v.recs.find((r) => r.kind === 'version' && r['secret'] === secret['id'] && r['id'] === id);
  if (!rec) return fail(`no ${label} version of ${name}`);
  return rec;
}

function versionsOf(v: VaultText, name: string): Rec[] {
  const secret = secretRec(v, name);
  return v.recs.filter((r) => r.kind === 'version' && r['secret'] === secret['id']);
}

/** SHA-256 over every record line except the head's, each with its newline (as the CLI does). */
function digestOf(v: VaultText): string {
  const hash = createHash('sha256');
  for (const r of v.recs) if (r.kind !== 'head') hash.update(`${lineOf(r)}\n`);
  return hash.digest('hex');
}

/** Flips one bit of a canonical base64 field, re-encoding it canonically. */
function flipBit(b64: string, byte = 0, bit = 0): string {
  const bytes = Buffer.from(b64, 'base64');
  equal(bytes.toString('base64'), b64, 'field is canonical base64');
  bytes[byte] = (bytes[byte] as number) ^ (1 << bit);
  return bytes.toString('base64');
}

/** Signs `rec` as `signer` (by = signer.id), the way the CLI signs records. */
async function signAs(rec: Rec, signer: Identity, vault: string): Promise<void> {
  delete rec['sig'];
  rec['by'] = signer.id;
  const sig = await signRecord(signer, vault, canonicalJson(rec as Parameters<typeof canonicalJson>[0]));
  rec['sig'] = toBase64(sig);
}

/** Re-signs `rec` as `signer` without changing its by/ctr (an insider holding that key). */
async function resignKeep(rec: Rec, signer: Identity, vault: string): Promise<void> {
  equal(rec['by'], signer.id);
  await signAs(rec, signer, vault);
}

/** Recomputes the head digest and signs the head as `signer` with a counter it claims. */
async function resignHead(v: VaultText, signer: Identity, ctr?: number): Promise<void> {
  const h = head(v);
  h['digest'] = digestOf(v);
  if (ctr !== undefined) {
    h['ctr'] = ctr;
    h['ctrs'] = { ...(h['ctrs'] as Record<string, number>), [signer.id]: ctr };
  }
  await signAs(h, signer, vaultId(v));
}

/** The member's own identity, read from the sandbox's fallback identity file. */
async function memberIdentity(sb: Sandbox): Promise<Identity> {
  const path = join(sb.env['XDG_CONFIG_HOME'] as string, 'secrets', 'identity.key');
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  equal(lines.length, 1, 'the identity file holds one key line');
  return identityFromSeed(decodeKey(lines[0] as string, path));
}

async function outsiderIdentity(): Promise<Identity> {
  return identityFromSeed(generateSeed());
}

// ---------------------------------------------------------------------------------------------
// Assertions.

/** Exit 6, empty stdout, one error line (+ optional hint), no stack, no value in the output. */
function assertRefused(r: CliResult, leaks: readonly string[], message?: RegExp): void {
  const ctx = `exit ${r.code}, stdout ${r.stdoutBytes.length} bytes, stderr:\n${r.stderr}`;
  equal(r.signal, null, ctx);
  equal(r.code, 6, ctx);
  equal(r.stdoutBytes.length, 0, `stdout must be empty, got ${JSON.stringify(r.stdout.slice(0, 200))}`);
  ok(r.stderr.endsWith('\n'), ctx);
  const lines = r.stderr.slice(0, -1).split('\n');
  ok(lines.length === 1 || lines.length === 2, `one error line and at most one hint line: ${ctx}`);
  match(lines[0] as string, /^secrets: error: \S/, ctx);
  if (lines.length === 2) match(lines[1] as string, /^secrets: hint: \S/, ctx);
  ok(!/^\s+at /m.test(r.stderr), `no stack trace: ${ctx}`);
  ok(!/internal error/i.test(r.stderr), `not an internal error: ${ctx}`);
  for (const leak of leaks) ok(!r.stderr.includes(leak), 'stderr never contains a secret value');
  if (message) match(lines[0] as string, message, ctx);
}

function dirListing(sb: Sandbox): string[] {
  return readdirSync(dirname(sb.vault)).sort();
}

/** `get` of every secret (every stage of app/db) is refused. */
async function assertReadsRefused(f: Fixture, message?: RegExp): Promise<void> {
  for (const args of [
    ['get', DB],
    ['get', DB, '--version-stage', 'PREVIOUS'],
    ['get', API],
    ['get', DB, '--json'],
  ]) {
    assertRefused(await f.sb.run(args), f.leaks, message);
  }
}

/** `put` and `tag` are refused and the tampered file is not rewritten. */
async function assertWritesRefused(f: Fixture, tampered: Buffer, message?: RegExp): Promise<void> {
  const listing = dirListing(f.sb);
  const fresh = marker();
  for (const [args, input] of [
    [['put', DB, '--value-stdin'], fresh.value],
    [['tag', DB, 'env=staging'], undefined],
    [['tag', API, 'owner=mallory'], undefined],
  ] as const) {
    const r = await f.sb.run(args, input === undefined ? {} : { input });
    assertRefused(r, [...f.leaks, ...fresh.encodings], message);
    ok(readFileSync(f.sb.vault).equals(tampered), `secrets ${args.join(' ')} must not rewrite the tampered vault file`);
    deepEqual(dirListing(f.sb), listing, 'no temp or lock file left behind');
  }
}

// ---------------------------------------------------------------------------------------------

describe('tampered vault files are refused with exit 6', { concurrency: 6 }, () => {
  // 1. A flipped bit in a version's ciphertext.

  test('a flipped bit in the CURRENT ciphertext (plain edit)', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const ver = versionRec(v, DB, 'CURRENT');
        ver['ct'] = flipBit(ver['ct'] as string, 3, 5);
      });
      // Editing any line also breaks the head digest; the CLI names the record that was altered.
      await assertReadsRefused(f, /altered|forged|invalid signature|damaged/i);
      await assertWritesRefused(f, tampered);
    }));

  test('a flipped bit in a ciphertext, head digest recomputed but the head cannot be re-signed', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const ver = versionRec(v, DB, 'CURRENT');
        ver['ct'] = flipBit(ver['ct'] as string, 0, 0);
        head(v)['digest'] = digestOf(v); // the attacker can hash, but not sign
      });
      await assertReadsRefused(f, /head record .*invalid signature/i);
      await assertWritesRefused(f, tampered, /head record .*invalid signature/i);
    }));

  test('a flipped bit in the last byte (Poly1305 tag) of a ciphertext', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const ver = versionRec(v, API, 'CURRENT');
        const len = Buffer.from(ver['ct'] as string, 'base64').length;
        ver['ct'] = flipBit(ver['ct'] as string, len - 1, 7);
      });
      await assertReadsRefused(f);
      await assertWritesRefused(f, tampered);
    }));

  test('insider: a flipped ciphertext bit, validly re-signed by the member, still fails to decrypt', () =>
    withFixture(async (f) => {
      const me = await memberIdentity(f.sb);
      await tamper(f.sb, async (v) => {
        const ver = versionRec(v, DB, 'CURRENT');
        ver['ct'] = flipBit(ver['ct'] as string, 1, 1);
        await resignKeep(ver, me, vaultId(v));
        await resignHead(v, me);
      });
      assertRefused(await f.sb.run(['get', DB]), f.leaks, /failed to decrypt/);
      // The untouched versions and secrets still read.
      equal(await f.sb.ok(['get', API]), f.api.value);
      equal(await f.sb.ok(['get', DB, '--version-stage', 'PREVIOUS']), f.db[1]?.value);
    }));

  // 2. Ciphertexts moved between secrets and between versions.

  test('a ciphertext moved from one secret to another', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const from = versionRec(v, API, 'CURRENT');
        const to = versionRec(v, DB, 'CURRENT');
        for (const k of ['n', 'ct', 'keys']) to[k] = from[k];
      });
      await assertReadsRefused(f);
      await assertWritesRefused(f, tampered);
    }));

  test('ciphertexts swapped between two versions of the same secret', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const cur = versionRec(v, DB, 'CURRENT');
        const prev = versionRec(v, DB, 'PREVIOUS');
        for (const k of ['n', 'ct', 'keys']) [cur[k], prev[k]] = [prev[k], cur[k]];
      });
      await assertReadsRefused(f);
      await assertWritesRefused(f, tampered);
    }));

  test('insider: moved ciphertexts, validly re-signed, fail to decrypt (AAD binds secret and version)', () =>
    withFixture(async (f) => {
      const me = await memberIdentity(f.sb);
      await tamper(f.sb, async (v) => {
        const id = vaultId(v);
        // app/api's value moved onto app/db's CURRENT; app/db's PREVIOUS and oldest swapped.
        const from = versionRec(v, API, 'CURRENT');
        const to = versionRec(v, DB, 'CURRENT');
        for (const k of ['n', 'ct', 'keys']) to[k] = from[k];
        const prev = versionRec(v, DB, 'PREVIOUS');
        const oldest = versionsOf(v, DB).find((r) => !Object.values(stages(secretRec(v, DB))).includes(r['id'] as string));
        if (!oldest) return fail('no unlabelled version');
        for (const k of ['n', 'ct', 'keys']) [prev[k], oldest[k]] = [oldest[k], prev[k]];
        for (const r of [to, prev, oldest]) await resignKeep(r, me, id);
        await resignHead(v, me);
      });
      assertRefused(await f.sb.run(['get', DB]), f.leaks, /failed to decrypt/);
      assertRefused(await f.sb.run(['get', DB, '--version-stage', 'PREVIOUS']), f.leaks, /failed to decrypt/);
      const versions = readVault(f.sb.vault);
      const unlabelled = versionsOf(versions, DB).find((r) => !Object.values(stages(secretRec(versions, DB))).includes(r['id'] as string));
      assertRefused(await f.sb.run(['get', DB, '--version-id', unlabelled?.['id'] as string]), f.leaks, /failed to decrypt/);
      // The source of the move still reads: only the moved copies fail.
      equal(await f.sb.ok(['get', API]), f.api.value);
    }));

  test('insider: a value type flipped string -> binary, validly re-signed, fails to decrypt (AAD binds type)', () =>
    withFixture(async (f) => {
      const me = await memberIdentity(f.sb);
      await tamper(f.sb, async (v) => {
        const ver = versionRec(v, DB, 'CURRENT');
        ver['type'] = 'binary';
        await resignKeep(ver, me, vaultId(v));
        await resignHead(v, me);
      });
      assertRefused(await f.sb.run(['get', DB]), f.leaks, /failed to decrypt/);
    }));

  // 3. Edited tags and staging labels.

  test('an edited tag value', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const s = secretRec(v, DB);
        s['tags'] = { ...(s['tags'] as Record<string, string>), env: 'dev' };
      });
      await assertReadsRefused(f, /secret record .*(altered|forged)/i);
      assertRefused(await f.sb.run(['describe', DB]), f.leaks);
      assertRefused(await f.sb.run(['list']), f.leaks);
      await assertWritesRefused(f, tampered);
    }));

  test('CURRENT moved to the PREVIOUS version in the secret record (serving an old value)', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const st = stages(secretRec(v, DB));
        st['CURRENT'] = st['PREVIOUS'] as string;
      });
      // stdout empty: the older value must not be served as CURRENT.
      await assertReadsRefused(f, /secret record .*(altered|forged)/i);
      await assertWritesRefused(f, tampered);
    }));

  test('a staging label removed, and one added, in the secret record', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const s = secretRec(v, DB);
        const st = stages(s);
        delete st['PREVIOUS'];
        st['AWSPENDING'] = st['CURRENT'] as string;
      });
      await assertReadsRefused(f);
      await assertWritesRefused(f, tampered);
    }));

  // 4. Records re-signed by a key that is not a member.

  test('a secret record re-signed by a non-member, with the head re-signed by it too', () =>
    withFixture(async (f) => {
      const outsider = await outsiderIdentity();
      const tampered = await tamper(f.sb, async (v) => {
        const id = vaultId(v);
        const s = secretRec(v, DB);
        s['tags'] = { env: 'dev', owner: 'mallory' };
        await signAs(s, outsider, id);
        await resignHead(v, outsider, (head(v)['ctr'] as number) + 1);
      });
      const notMember = new RegExp(`signed by ${outsider.id}, who is not a member`);
      await assertReadsRefused(f, notMember);
      assertRefused(await f.sb.run(['describe', DB]), f.leaks, notMember);
      await assertWritesRefused(f, tampered, notMember);
    }));

  test('a secret record re-signed by a non-member, head left as it was', () =>
    withFixture(async (f) => {
      const outsider = await outsiderIdentity();
      const tampered = await tamper(f.sb, async (v) => {
        const s = secretRec(v, DB);
        s['tags'] = { env: 'dev' };
        await signAs(s, outsider, vaultId(v));
      });
      const notMember = new RegExp(`signed by ${outsider.id}, who is not a member`);
      await assertReadsRefused(f, notMember);
      await assertWritesRefused(f, tampered, notMember);
    }));

  test('a non-member cannot enrol itself: a self-signed admin member record is refused', () =>
    withFixture(async (f) => {
      // The outsider adds a member record for itself (roles admin), signed with its own key,
      // then edits app/db (CURRENT moved back to the older value, tags changed), signs that,
      // and signs a new head with a counter it claims. No record is signed by a member whose
      // membership chains back to the vault creator, so an honest reader must refuse it.
      const outsider = await outsiderIdentity();
      const tampered = await tamper(f.sb, async (v) => {
        const id = vaultId(v);
        const real = v.recs.find((r) => r.kind === 'member');
        if (!real) return fail('no member');
        const member: Rec = {
          kind: 'member',
          id: outsider.id,
          name: 'mallory',
          enc: toBase64(outsider.enc),
          sign: toBase64(outsider.sign),
          roles: ['admin'],
          added: real['added'],
          ctr: 1,
        };
        await signAs(member, outsider, id);
        const s = secretRec(v, DB);
        const st = stages(s);
        st['CURRENT'] = st['PREVIOUS'] as string;
        s['tags'] = { env: 'dev', owner: 'mallory' };
        s['ctr'] = 1;
        await signAs(s, outsider, id);
        // Members are sorted by id, as the CLI writes them.
        const members = [...v.recs.filter((r) => r.kind === 'member'), member].sort((a, b) => ((a['id'] as string) < (b['id'] as string) ? -1 : 1));
        const recs = [v.recs[0] as Rec, ...members, ...v.recs.filter((r) => r.kind !== 'vault' && r.kind !== 'member')];
        v.recs.splice(0, v.recs.length, ...recs);
        await resignHead(v, outsider, 1);
      });
      const refusal = /not signed by an admin|not added by an admin|not a member|forged|altered/i;
      await assertReadsRefused(f, refusal);
      assertRefused(await f.sb.run(['describe', DB]), f.leaks, refusal);
      await assertWritesRefused(f, tampered, refusal);
    }));

  // 5. Rollback to an older copy of the file.

  test('an older copy of the vault file put back is refused as a rollback', () =>
    withFixture(async (f) => {
      const sb = f.sb;
      const extra = [marker(), marker()];
      const leaks = [...f.leaks, ...extra.flatMap((m) => m.encodings)];
      const old = join(sb.home, 'vault.old');
      copyFileSync(sb.vault, old);
      for (const m of extra) await sb.ok(['put', DB, '--value-stdin'], { input: m.value });
      equal(await sb.ok(['get', DB]), extra[1]?.value);
      const trustDir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust');
      const trustFiles = readdirSync(trustDir).filter((f) => f.endsWith('.json'));
      equal(trustFiles.length, 1);
      const trustPath = join(trustDir, trustFiles[0] as string);
      const trustBefore = readFileSync(trustPath);

      copyFileSync(old, sb.vault);
      const rolledBack = readFileSync(sb.vault);
      for (const args of [['get', DB], ['get', API], ['list'], ['describe', DB]]) {
        const r = await sb.run(args);
        assertRefused(r, leaks, /rolled back|rollback/i);
      }
      const listing = dirListing(sb);
      const fresh = marker();
      for (const [args, input] of [
        [['put', DB, '--value-stdin'], fresh.value],
        [['tag', DB, 'env=old'], undefined],
      ] as const) {
        const r = await sb.run(args, input === undefined ? {} : { input });
        assertRefused(r, [...leaks, ...fresh.encodings], /rolled back|rollback/i);
        ok(readFileSync(sb.vault).equals(rolledBack), 'the rolled-back file is not rewritten');
        deepEqual(dirListing(sb), listing);
      }
      ok(readFileSync(trustPath).equals(trustBefore), 'the trust state is not lowered by a refused rollback');
    }));

  // 6. Reordered and deleted records.

  test('two version records of a secret swapped in place', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const a = v.recs.indexOf(versionRec(v, DB, 'CURRENT'));
        const b = v.recs.indexOf(versionRec(v, DB, 'PREVIOUS'));
        [v.recs[a], v.recs[b]] = [v.recs[b] as Rec, v.recs[a] as Rec];
      });
      await assertReadsRefused(f, /added, removed or reordered/);
      await assertWritesRefused(f, tampered, /added, removed or reordered/);
    }));

  test('two secrets (with their versions) swapped in the file', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const headAt = v.recs.indexOf(head(v));
        const before = v.recs.slice(0, headAt + 1);
        const apiBlock = [secretRec(v, API), ...versionsOf(v, API)];
        const dbBlock = [secretRec(v, DB), ...versionsOf(v, DB)];
        return [...before, ...dbBlock, ...apiBlock];
      });
      await assertReadsRefused(f, /added, removed or reordered/);
      await assertWritesRefused(f, tampered, /added, removed or reordered/);
    }));

  test('a non-current, unlabelled version record deleted', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const labelled = new Set(Object.values(stages(secretRec(v, DB))));
        const victim = versionsOf(v, DB).find((r) => !labelled.has(r['id'] as string));
        ok(victim, 'app/db has an unlabelled version');
        return v.recs.filter((r) => r !== victim);
      });
      await assertReadsRefused(f, /added, removed or reordered/);
      await assertWritesRefused(f, tampered, /added, removed or reordered/);
    }));

  test('the PREVIOUS version record deleted (a label now points nowhere)', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const victim = versionRec(v, DB, 'PREVIOUS');
        return v.recs.filter((r) => r !== victim);
      });
      await assertReadsRefused(f);
      await assertWritesRefused(f, tampered);
    }));

  test('a whole secret (record and versions) deleted', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const gone = new Set([secretRec(v, API), ...versionsOf(v, API)]);
        return v.recs.filter((r) => !gone.has(r));
      });
      // The deleted secret must not read as "not found" (exit 3): the file is damaged.
      assertRefused(await f.sb.run(['get', API]), f.leaks, /added, removed or reordered/);
      assertRefused(await f.sb.run(['get', DB]), f.leaks, /added, removed or reordered/);
      await assertWritesRefused(f, tampered, /added, removed or reordered/);
    }));

  test('a version record moved before the head (structure damage names a line)', () =>
    withFixture(async (f) => {
      const tampered = await tamper(f.sb, (v) => {
        const ver = versionRec(v, API, 'CURRENT');
        const rest = v.recs.filter((r) => r !== ver);
        const headAt = rest.indexOf(head(v));
        return [...rest.slice(0, headAt), ver, ...rest.slice(headAt)];
      });
      await assertReadsRefused(f, /damaged at line \d+/);
      await assertWritesRefused(f, tampered, /damaged at line \d+/);
    }));

  test('a truncated file (last line cut mid-record) names the line', () =>
    withFixture(async (f) => {
      const text = readFileSync(f.sb.vault, 'utf8');
      writeFileSync(f.sb.vault, text.slice(0, text.length - 40));
      const tampered = readFileSync(f.sb.vault);
      await assertReadsRefused(f, /damaged at line \d+/);
      await assertWritesRefused(f, tampered, /damaged at line \d+/);
    }));

  // 7. A different vault copied over the path.

  test('a different vault copied over the path is refused: this machine pinned which vault lives there', async () => {
    // The trust state pins, per path, the vault id this machine used there. Another vault put in
    // its place (a copy of someone else's, or a crafted one listing our public keys as a member so
    // that our next write would seal to its admin) is refused with exit 6 by reads and writes
    // alike, and nothing of it is decrypted, printed or rewritten.
    const mine = await fixture();
    const theirs = await fixture();
    try {
      const leaks = [...mine.leaks, ...theirs.leaks];
      copyFileSync(theirs.sb.vault, mine.sb.vault);
      const swapped = readFileSync(mine.sb.vault);
      const pinned = /is vault [0-9a-f-]+, but this machine used vault [0-9a-f-]+ there/;
      assertRefused(await mine.sb.run(['get', DB]), leaks, pinned);
      assertRefused(await mine.sb.run(['get', API, '--json']), leaks, pinned);
      const fresh = marker();
      for (const [args, input] of [
        [['put', DB, '--value-stdin'], fresh.value],
        [['tag', DB, 'env=x'], undefined],
        [['create', 'new/one', '--value-stdin'], fresh.value],
      ] as const) {
        const r = await mine.sb.run(args, input === undefined ? {} : { input });
        equal(r.code, 6, r.stderr);
        equal(r.stdout, '');
        match(r.stderr, pinned);
        for (const leak of [...leaks, ...fresh.encodings]) ok(!r.stderr.includes(leak));
        ok(readFileSync(mine.sb.vault).equals(swapped), 'the foreign vault is not rewritten');
      }
    } finally {
      mine.sb.cleanup();
      theirs.sb.cleanup();
    }
  });
});
