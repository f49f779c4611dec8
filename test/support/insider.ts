/**
 * Test support for attacks by members: people sharing one vault file (each with their own HOME
 * and SECRETS_IDENTITY_KEY), and a modified client that signs whatever records it likes with a
 * member's key, as an insider holding that key could.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identity } from '../../src/core/ports.js';
import { toBase64 } from '../../src/crypto/encoding.js';
import { decodeKey, identityFromSeed } from '../../src/crypto/identity.js';
import { canonicalJson } from '../../src/store/codec.js';
import { type CliResult, type RunOptions, sandbox, type Sandbox } from './cli.js';
import { signRecord } from './format1-writer.js';

/** A vault record as JSON. */
export type Rec = Record<string, unknown> & { kind: string; by?: string; ctr?: number; sig?: string };

/** One person at the shared vault. */
export interface Person {
  readonly name: string;
  readonly key: string;
  readonly sb: Sandbox;
  readonly identity: Identity;
  run(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  ok(args: readonly string[], opts?: RunOptions): Promise<string>;
}

/** A failed run, explained. */
export function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** A person with a fresh identity key (or `key`), at `vault`; `env` is added to their sandbox's (FORMAT_1). */
export async function person(
  name: string,
  vault: string,
  key = `SECRETS-KEY-1${randomBytes(32).toString('base64url')}`,
  env: Readonly<Record<string, string>> = {},
): Promise<Person> {
  const sb = sandbox({ ...env, SECRETS_IDENTITY_KEY: key, SECRETS_VAULT: vault });
  const identity = await identityFromSeed(decodeKey(key, 'test'));
  const run = (args: readonly string[], opts?: RunOptions): Promise<CliResult> => sb.run(args, opts);
  return {
    name,
    key,
    sb,
    identity,
    run,
    async ok(args, opts) {
      const r = await run(args, opts);
      assert.equal(r.code, 0, explain(`${name}: secrets ${args.join(' ')}`, r));
      return r.stdout;
    },
  };
}

/** The vault file's records, in order, after its header line. */
export function readRecords(path: string): { header: string; recs: Rec[] } {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop();
  const [header, ...rest] = lines;
  return { header: header ?? '', recs: rest.map((l) => JSON.parse(l.slice(2)) as Rec) };
}

/** The record of secret `name`. */
export function secretRecord(path: string, name: string): Rec {
  const r = readRecords(path).recs.find((x) => x.kind === 'secret' && x['name'] === name);
  assert.ok(r, `no secret ${name}`);
  return r;
}

/** Signs `rec` as `signer` (by and ctr as they are). */
export async function sign(rec: Rec, signer: Identity, vaultId: string): Promise<void> {
  delete rec.sig;
  rec.sig = toBase64(await signRecord(signer, vaultId, canonicalJson(rec as Parameters<typeof canonicalJson>[0])));
}

/**
 * A modified client: lets `edit` change records, signs each changed one as `writer` with a new
 * counter (unless `resign` is false: records signed elsewhere), and signs a new head as `writer`
 * over the result, as the real client would.
 */
export async function forge(path: string, writer: Identity, edit: (recs: Rec[]) => Rec[], resign = true): Promise<void> {
  const { header, recs } = readRecords(path);
  const vaultId = recs.find((r) => r.kind === 'vault')?.['id'] as string;
  const head = recs.find((r) => r.kind === 'head') as Rec;
  const ctrs = { ...(head['ctrs'] as Record<string, number>) };
  const ctr = (ctrs[writer.id] ?? 0) + 1;
  const before = new Map(recs.map((r) => [r, canonicalJson(r as Parameters<typeof canonicalJson>[0])]));
  const next = edit(recs);
  for (const r of next) {
    if (!resign || r.kind === 'head' || before.get(r) === canonicalJson(r as Parameters<typeof canonicalJson>[0])) continue;
    r.by = writer.id;
    r.ctr = ctr;
    await sign(r, writer, vaultId);
  }
  const digest = createHash('sha256');
  for (const r of next) if (r.kind !== 'head') digest.update(`- ${canonicalJson(r as Parameters<typeof canonicalJson>[0])}\n`);
  ctrs[writer.id] = ctr;
  const newHead: Rec = { ...head, ctrs, digest: digest.digest('hex'), by: writer.id, ctr };
  delete newHead['audit'];
  await sign(newHead, writer, vaultId);
  const out = next.map((r) => (r.kind === 'head' ? newHead : r));
  writeFileSync(path, `${header}\n${out.map((r) => `- ${canonicalJson(r as Parameters<typeof canonicalJson>[0])}\n`).join('')}`);
}

/** Writes a policy document (JSON) into `dir` and returns its path. */
export function policyFile(dir: string, name: string, doc: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

/**
 * Alice (admin) and members at a fresh vault made by `init` with `initArgs`, each with `env`
 * added (FORMAT_1); `cleanup` removes it all.
 */
export async function team(
  names: readonly string[],
  initArgs: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<{ dir: string; vault: string; people: Person[]; cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-insider-'));
  const vault = join(dir, 'vault.yaml');
  const people = await Promise.all(['alice', ...names].map((n) => person(n, vault, undefined, env)));
  const [alice, ...members] = people as [Person, ...Person[]];
  await alice.ok(['init', ...initArgs]);
  for (const m of members) await alice.ok(['member', 'add', m.name, (await m.ok(['identity', 'show'])).trim()]);
  return {
    dir,
    vault,
    people,
    cleanup() {
      for (const p of people) p.sb.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Alice puts the policy `<who>-policy` of these statements and attaches it to `who`. */
export async function grant(alice: Person, dir: string, who: string, statements: unknown[]): Promise<void> {
  await alice.ok(['policy', 'put', `${who}-policy`, '-f', policyFile(dir, who, { Version: '2012-10-17', Statement: statements })]);
  await alice.ok(['policy', 'attach', `${who}-policy`, who]);
}

/** A PostgreSQL server that asks for a cleartext password and records every one it gets. */
export function fakePostgres(seen: string[]): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((sock) => {
      let buf = Buffer.alloc(0);
      let started = false;
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!started) {
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === 80877103) return void sock.write('N');
          started = true;
          const auth = Buffer.alloc(9);
          auth.write('R', 0);
          auth.writeInt32BE(8, 1);
          auth.writeInt32BE(3, 5);
          return void sock.write(auth);
        }
        if (buf.length >= 5 && buf[0] === 0x70) {
          const len = buf.readInt32BE(1);
          if (buf.length < 1 + len) return;
          seen.push(buf.toString('utf8', 5, len).replace(/\0$/, ''));
          const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0');
          const err = Buffer.alloc(5);
          err.write('E', 0);
          err.writeInt32BE(4 + fields.length, 1);
          sock.end(Buffer.concat([err, fields]));
        }
      });
      sock.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}
