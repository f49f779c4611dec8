// The library (`import { SecretsClient } from 'local-secrets-manager'`), used by a real Node child process
// against a sandbox vault while the CLI changes it from other processes: AWS-shaped results,
// the cache (a hit reads nothing and audits nothing; a write by another process is seen on the
// very next call; TTL; size bound; off), and typed errors.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, marker, ROOT, type Sandbox } from './support/cli.js';

/** The child: imports the package by its name (self-reference through package.json "exports")
 * and runs one client operation per line of stdin, answering one JSON line each. */
const CHILD = `
import { SecretsClient, SecretsError } from 'local-secrets-manager';
import { createInterface } from 'node:readline';
const clients = new Map();
const warnings = [];
const enc = (v) => ({
  keys: Object.keys(v),
  Name: v.Name,
  VersionId: v.VersionId,
  SecretString: v.SecretString,
  SecretBinary: v.SecretBinary === undefined ? undefined : Buffer.from(v.SecretBinary).toString('base64'),
  binaryIsUint8Array: v.SecretBinary === undefined ? undefined : v.SecretBinary instanceof Uint8Array,
  VersionStages: v.VersionStages,
  CreatedDate: v.CreatedDate instanceof Date ? v.CreatedDate.toISOString() : 'not a Date: ' + String(v.CreatedDate),
});
for await (const line of createInterface({ input: process.stdin })) {
  const { id, op, client, args } = JSON.parse(line);
  const c = clients.get(client);
  let reply;
  try {
    let result = null;
    if (op === 'new') clients.set(client, new SecretsClient({ ...args, onWarning: (m) => warnings.push(m) }));
    else if (op === 'get') result = enc(await c.getSecretValue(args));
    else if (op === 'json') result = await c.getSecretJson(args);
    else if (op === 'batch') {
      const r = await c.batchGetSecretValue(args);
      result = { keys: Object.keys(r), SecretValues: r.SecretValues.map(enc), Errors: r.Errors };
    } else if (op === 'clear') c.clearCache();
    else if (op === 'get-and-scribble') {
      // A careful caller wipes what it was given; the cache must not hand that back.
      const v = await c.getSecretValue(args);
      if (v.SecretBinary) v.SecretBinary.fill(0);
      v.VersionStages.push('SCRIBBLED');
      result = enc(v);
    }
    else if (op === 'warnings') result = warnings;
    else throw new Error('unknown op ' + op);
    reply = { id, ok: true, result };
  } catch (e) {
    reply = { id, ok: false, error: { isSecretsError: e instanceof SecretsError, isError: e instanceof Error, code: e.code, message: String(e.message), hint: e.hint } };
  }
  process.stdout.write(JSON.stringify(reply) + '\\n');
}
`;

interface Value {
  keys: string[];
  Name: string;
  VersionId: string;
  SecretString?: string;
  SecretBinary?: string;
  binaryIsUint8Array?: boolean;
  VersionStages: string[];
  CreatedDate: string;
}
interface Failure {
  isSecretsError: boolean;
  isError: boolean;
  code: string;
  message: string;
  hint?: string;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: Failure };

/** One long-lived Node process using the library. */
class LibraryProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, (r: Reply) => void>();
  #next = 0;
  #stderr = '';

  constructor(env: Record<string, string>) {
    this.#child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
    this.#child.on('close', (code) => {
      for (const resolve of this.#pending.values())
        resolve({ id: -1, ok: false, error: { isSecretsError: false, isError: false, code: 'CHILD_EXITED', message: `exit ${code}: ${this.#stderr}` } });
      this.#pending.clear();
    });
  }

  call(op: string, client: string, args?: unknown): Promise<Reply> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ id, op, client, args })}\n`);
    });
  }

  async ok<T>(op: string, client: string, args?: unknown): Promise<T> {
    const r = await this.call(op, client, args);
    if (!r.ok) throw new Error(`${op} failed: ${JSON.stringify(r.error)}\n${this.#stderr}`);
    return r.result as T;
  }

  async fails(op: string, client: string, args?: unknown): Promise<Failure> {
    const r = await this.call(op, client, args);
    assert.ok(!r.ok, `${op} ${JSON.stringify(args)} should fail, got ${JSON.stringify(r.ok ? r.result : null)}`);
    return r.error;
  }

  get(client: string, args: unknown): Promise<Value> {
    return this.ok<Value>('get', client, args);
  }

  close(): void {
    this.#child.stdin.end();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SecretsClient in a Node process', () => {
  let sb: Sandbox;
  let lib: LibraryProcess;
  let bobKey: string;
  let v1: string;
  const db = { username: 'app', password: marker().value, port: 5432, nested: { a: [1, 'two'] } };
  const token1 = marker().value;
  const token2 = marker().value;
  const bin = Buffer.concat([Buffer.from([0, 0xff, 0x80]), randomBytes(100)]);

  /** Successful GetSecretValue events for `name` so far (every real read writes one). */
  const reads = (name: string): number => {
    const dir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
    return readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { eventName: string; secretName?: string })
      .filter((e) => e.eventName === 'GetSecretValue' && e.secretName === name).length;
  };
  const put = async (name: string, value: string): Promise<void> => {
    await sb.ok(['put', name, '--value-stdin'], { input: value });
  };

  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'lib/db', '--value-stdin'], { input: JSON.stringify(db) });
    v1 = (JSON.parse(await sb.ok(['create', 'lib/token', '--value-stdin', '--json'], { input: token1 })) as { VersionId: string }).VersionId;
    await put('lib/token', token2);
    const f = join(sb.home, 'bin');
    writeFileSync(f, bin);
    await sb.ok(['create', 'lib/bin', '--from-file', f]);
    await sb.ok(['create', 'lib/text', '--value-stdin'], { input: 'not json {' });
    for (const n of ['c/ttl', 'c/off', 'c/a', 'c/b', 'c/clear', 'c/put']) await sb.ok(['create', n, '--value-stdin'], { input: `${n} v1` });
    bobKey = join(sb.home, 'bob.key');
    const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', bobKey])).trim();
    await sb.ok(['member', 'add', 'bob', pub]);
    const policy = join(sb.home, 'bob.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'lib/token' }] }));
    await sb.ok(['policy', 'put', 'bob-read', '-f', policy]);
    await sb.ok(['policy', 'attach', 'bob-read', 'bob']);
    // The child's own environment points at no vault: clients find it through options.
    const emptyData = join(sb.home, 'elsewhere');
    mkdirSync(emptyData);
    lib = new LibraryProcess({ ...sb.env, XDG_DATA_HOME: emptyData });
    await lib.ok('new', 'main', { vault: sb.vault });
  });
  after(() => {
    lib?.close();
    sb?.cleanup();
  });

  test('resolution: options.vault, options.env; with neither, the process env (no vault there: VAULT_NOT_FOUND)', async () => {
    await lib.ok('new', 'byEnv', { env: sb.env });
    assert.equal((await lib.get('byEnv', { SecretId: 'lib/token' })).SecretString, token2);
    await lib.ok('new', 'default', {});
    const e = await lib.fails('get', 'default', { SecretId: 'lib/token' });
    assert.equal(e.isSecretsError, true);
    assert.equal(e.code, 'VAULT_NOT_FOUND');
  });

  test('getSecretValue: the AWS shape with a Date, stages and versions; binary as a Uint8Array', async () => {
    const cur = await lib.get('main', { SecretId: 'lib/token' });
    assert.deepEqual(cur.keys, ['Name', 'VersionId', 'SecretString', 'VersionStages', 'CreatedDate']);
    assert.equal(cur.Name, 'lib/token');
    assert.equal(cur.SecretString, token2);
    assert.deepEqual(cur.VersionStages, ['CURRENT']);
    assert.ok(Math.abs(Date.parse(cur.CreatedDate) - Date.now()) < 10 * 60_000, cur.CreatedDate);
    const cli = JSON.parse(await sb.ok(['get', 'lib/token', '--json'])) as { VersionId: string; CreatedDate: string };
    assert.equal(cur.VersionId, cli.VersionId);
    assert.equal(cur.CreatedDate, new Date(cli.CreatedDate).toISOString());
    const prev = await lib.get('main', { SecretId: 'lib/token', VersionStage: 'PREVIOUS' });
    assert.equal(prev.SecretString, token1);
    assert.equal(prev.VersionId, v1);
    assert.deepEqual(prev.VersionStages, ['PREVIOUS']);
    const byId = await lib.get('main', { SecretId: 'lib/token', VersionId: v1 });
    assert.equal(byId.SecretString, token1);
    const b = await lib.get('main', { SecretId: 'lib/bin' });
    assert.deepEqual(b.keys, ['Name', 'VersionId', 'SecretBinary', 'VersionStages', 'CreatedDate']);
    assert.equal(b.SecretBinary, bin.toString('base64'));
    assert.equal(b.binaryIsUint8Array, true);
  });

  test('getSecretJson takes a name or an input; non-JSON and binary values are INVALID_VALUE', async () => {
    assert.deepEqual(await lib.ok('json', 'main', 'lib/db'), db);
    assert.deepEqual(await lib.ok('json', 'main', { SecretId: 'lib/db', VersionStage: 'CURRENT' }), db);
    for (const id of ['lib/text', 'lib/bin']) {
      const e = await lib.fails('json', 'main', id);
      assert.equal(e.isSecretsError, true);
      assert.equal(e.code, 'INVALID_VALUE');
      assert.ok(!e.message.includes('not json {'), 'no value in the message');
    }
  });

  test('batchGetSecretValue: values in the order asked and an Error per failing name (NOT_FOUND, DENIED)', async () => {
    const r = await lib.ok<{ keys: string[]; SecretValues: Value[]; Errors: { SecretId: string; ErrorCode: string; Message: string }[] }>('batch', 'main', {
      SecretIdList: ['lib/token', 'nope/missing', 'lib/bin', 'lib/db'],
    });
    assert.deepEqual(r.keys, ['SecretValues', 'Errors']);
    assert.deepEqual(
      r.SecretValues.map((v) => v.Name),
      ['lib/token', 'lib/bin', 'lib/db'],
    );
    assert.equal(r.SecretValues[0]?.SecretString, token2);
    assert.equal(r.SecretValues[1]?.SecretBinary, bin.toString('base64'));
    assert.equal(r.SecretValues[1]?.binaryIsUint8Array, true);
    assert.deepEqual(JSON.parse(r.SecretValues[2]?.SecretString ?? ''), db);
    assert.ok(r.SecretValues.every((v) => !v.CreatedDate.startsWith('not a Date')));
    assert.deepEqual(
      r.Errors.map((e) => [e.SecretId, e.ErrorCode]),
      [['nope/missing', 'NOT_FOUND']],
    );
    await lib.ok('new', 'bob', { vault: sb.vault, identityFile: bobKey });
    const asBob = await lib.ok<{ SecretValues: Value[]; Errors: { SecretId: string; ErrorCode: string }[] }>('batch', 'bob', {
      SecretIdList: ['lib/token', 'lib/db'],
    });
    assert.deepEqual(
      asBob.SecretValues.map((v) => [v.Name, v.SecretString]),
      [['lib/token', token2]],
    );
    assert.deepEqual(
      asBob.Errors.map((e) => [e.SecretId, e.ErrorCode]),
      [['lib/db', 'DENIED']],
    );
  });

  test('errors are SecretsError with a stable code: NOT_FOUND, DENIED, USAGE; never cached', async () => {
    const missing = await lib.fails('get', 'main', { SecretId: 'c/later' });
    assert.deepEqual([missing.isSecretsError, missing.isError, missing.code], [true, true, 'NOT_FOUND']);
    await sb.ok(['create', 'c/later', '--value-stdin'], { input: 'now here' });
    assert.equal((await lib.get('main', { SecretId: 'c/later' })).SecretString, 'now here', 'a failure is not cached');
    assert.equal((await lib.fails('get', 'main', { SecretId: 'lib/token', VersionStage: 'NOPE' })).code, 'NOT_FOUND');
    const both = await lib.fails('get', 'main', { SecretId: 'lib/token', VersionStage: 'CURRENT', VersionId: v1 });
    assert.deepEqual([both.isSecretsError, both.code], [true, 'USAGE']);
    await lib.ok('new', 'bob2', { vault: sb.vault, identityFile: bobKey });
    assert.equal((await lib.get('bob2', { SecretId: 'lib/token' })).SecretString, token2, 'bob reads what his policy allows');
    const denied = await lib.fails('get', 'bob2', { SecretId: 'lib/db' });
    assert.deepEqual([denied.isSecretsError, denied.code], [true, 'DENIED']);
    assert.ok(!denied.message.includes(db.password));
    assert.deepEqual([(await lib.fails('json', 'bob2', 'lib/db')).code], ['DENIED']);
  });

  test('cache: a hit reads nothing (no audit event); a put by another process is returned on the very next call', async () => {
    await lib.ok('new', 'cached', { vault: sb.vault });
    const n0 = reads('c/put');
    assert.equal((await lib.get('cached', { SecretId: 'c/put' })).SecretString, 'c/put v1');
    assert.equal(reads('c/put'), n0 + 1, 'the first call reads (and audits)');
    for (let i = 0; i < 5; i++) assert.equal((await lib.get('cached', { SecretId: 'c/put' })).SecretString, 'c/put v1');
    assert.equal(reads('c/put'), n0 + 1, 'hits read nothing');
    for (let round = 2; round <= 4; round++) {
      await put('c/put', `c/put v${round}`);
      const v = await lib.get('cached', { SecretId: 'c/put' });
      assert.equal(v.SecretString, `c/put v${round}`, `the next call after put #${round} returns the new value`);
      assert.deepEqual(v.VersionStages, ['CURRENT']);
      assert.equal((await lib.get('cached', { SecretId: 'c/put' })).SecretString, `c/put v${round}`);
    }
    assert.equal(reads('c/put'), n0 + 4, 'one real read per change, hits in between');
    // The PREVIOUS stage is cached apart from CURRENT and moves with the put too.
    assert.equal((await lib.get('cached', { SecretId: 'c/put', VersionStage: 'PREVIOUS' })).SecretString, 'c/put v3');
    await put('c/put', 'c/put v5');
    assert.equal((await lib.get('cached', { SecretId: 'c/put', VersionStage: 'PREVIOUS' })).SecretString, 'c/put v4');
    // A write to another secret changes the file: the next call re-reads, the value is the same.
    const before = reads('c/put');
    await put('c/a', 'c/a v2');
    assert.equal((await lib.get('cached', { SecretId: 'c/put' })).SecretString, 'c/put v5');
    assert.equal(reads('c/put'), before + 1);
  });

  test('cache: TTL expiry, a size bound, clearCache, and cache: false', async () => {
    await lib.ok('new', 'ttl', { vault: sb.vault, cache: { ttlMs: 400 } });
    const t0 = reads('c/ttl');
    await lib.get('ttl', { SecretId: 'c/ttl' });
    await lib.get('ttl', { SecretId: 'c/ttl' });
    assert.equal(reads('c/ttl'), t0 + 1, 'within the TTL: a hit');
    await sleep(600);
    assert.equal((await lib.get('ttl', { SecretId: 'c/ttl' })).SecretString, 'c/ttl v1');
    assert.equal(reads('c/ttl'), t0 + 2, 'after the TTL: a real read');
    await lib.get('ttl', { SecretId: 'c/ttl' });
    assert.equal(reads('c/ttl'), t0 + 2);

    await lib.ok('new', 'one', { vault: sb.vault, cache: { ttlMs: 60_000, maxEntries: 1 } });
    const a0 = reads('c/a');
    const b0 = reads('c/b');
    await lib.get('one', { SecretId: 'c/a' });
    await lib.get('one', { SecretId: 'c/a' });
    await lib.get('one', { SecretId: 'c/b' });
    await lib.get('one', { SecretId: 'c/a' });
    assert.deepEqual([reads('c/a') - a0, reads('c/b') - b0], [2, 1], 'one entry: c/b evicted c/a');

    await lib.ok('new', 'clear', { vault: sb.vault });
    const c0 = reads('c/clear');
    await lib.get('clear', { SecretId: 'c/clear' });
    await lib.get('clear', { SecretId: 'c/clear' });
    await lib.ok('clear', 'clear');
    await lib.get('clear', { SecretId: 'c/clear' });
    assert.equal(reads('c/clear'), c0 + 2, 'clearCache forgets');

    await lib.ok('new', 'off', { vault: sb.vault, cache: false });
    const o0 = reads('c/off');
    for (let i = 0; i < 3; i++) assert.equal((await lib.get('off', { SecretId: 'c/off' })).SecretString, 'c/off v1');
    assert.equal(reads('c/off'), o0 + 3, 'cache: false reads every time');
    const w = await lib.ok<string[]>('warnings', 'main');
    assert.deepEqual(w, [], 'no warnings');
  });

  test('cache: a caller that wipes or changes a returned value does not change what the next call returns', async () => {
    await lib.ok('new', 'scribble', { vault: sb.vault });
    await lib.ok('get-and-scribble', 'scribble', { SecretId: 'lib/bin' });
    const again = await lib.get('scribble', { SecretId: 'lib/bin' });
    assert.equal(again.SecretBinary, bin.toString('base64'), 'the binary value is intact, not the zeros the caller wrote');
    assert.deepEqual(again.VersionStages, ['CURRENT']);
  });

  test('cache: revoked access and a deleted secret take effect on the next call', async () => {
    await lib.ok('new', 'bob3', { vault: sb.vault, identityFile: bobKey });
    assert.equal((await lib.get('bob3', { SecretId: 'lib/token' })).SecretString, token2);
    await sb.ok(['policy', 'detach', 'bob-read', 'bob', '--yes']);
    const denied = await lib.fails('get', 'bob3', { SecretId: 'lib/token' });
    assert.deepEqual([denied.isSecretsError, denied.code], [true, 'DENIED'], 'a cached value is not served once access is revoked');
    await lib.ok('new', 'del', { vault: sb.vault });
    assert.equal((await lib.get('del', { SecretId: 'c/b' })).SecretString, 'c/b v1');
    await sb.ok(['delete', 'c/b', '--force', '--yes']);
    const gone = await lib.fails('get', 'del', { SecretId: 'c/b' });
    assert.equal(gone.isSecretsError, true);
    assert.match(gone.code, /^(NOT_FOUND|SECRET_DELETED)$/);
  });
});
