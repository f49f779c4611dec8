// `secrets import` and `secrets export` through the built binary: 10,000 secrets round-trip
// exactly (JSON in, AWS-shaped JSON out, AWS-shaped JSON into a second vault), in one vault
// write with one audit event per secret; re-imports change only what changed; dotenv with a
// prefix; binary values; export refuses to print values off a terminal without --yes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDotenv } from '../src/core/dotenv.js';
import { type CliResult, initialisedSandbox, type Sandbox } from './support/cli.js';

const COUNT = 10_000;

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  '\n',
  '\r\n',
  '\t',
  '"',
  "'",
  '\\',
  '$HOME',
  '`',
  '#',
  '=',
  'é',
  '中文',
  '😀',
  'ß',
  '\u0301',
  '\u2028',
  '{"k":1}',
  '--',
  '%s',
  '\u00a0',
];

/** 10,000 names → values: unicode, newlines, quotes, empty, long. */
function generate(count: number, seed: number): Record<string, string> {
  const rnd = prng(seed);
  const out: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const name = `bulk/${i % 7 === 0 ? 'svc/' : ''}s${String(i).padStart(5, '0')}`;
    let v = '';
    if (i === 1) v = '';
    else if (i === 2) v = 'x'.repeat(4000);
    else {
      const n = Math.floor(rnd() * 24);
      for (let j = 0; j < n; j++) v += PIECES[Math.floor(rnd() * PIECES.length)] as string;
      v += String(i);
    }
    out[name] = v;
  }
  return out;
}

interface AwsValue {
  Name: string;
  VersionId: string;
  SecretString?: string;
  SecretBinary?: string;
  VersionStages: string[];
  CreatedDate: string;
}

/**
 * How many writes each writer made to the vault. Format 1: the signed head's counters (one per
 * write). Format 2: the distinct times of each writer's entries (one write appends all its
 * entries with one time).
 */
function writes(sb: Sandbox): Record<string, number> {
  const records = readFileSync(sb.vault, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => JSON.parse(l.slice(2)) as { kind: string; by?: string; at?: string; ctrs?: Record<string, number> });
  const head = records.find((r) => r.kind === 'head');
  if (head) return head.ctrs ?? {};
  const times = new Map<string, Set<string>>();
  for (const r of records) if (r.kind === 'op' && r.by && r.at) times.set(r.by, (times.get(r.by) ?? new Set()).add(r.at));
  return Object.fromEntries([...times].map(([by, at]) => [by, at.size]));
}

/** The only writer of a vault so far: its creator. */
function writer(sb: Sandbox): string {
  const [only, ...others] = Object.keys(writes(sb));
  assert.ok(only !== undefined && others.length === 0, 'one writer');
  return only;
}

/** Versions in the file: format 1's version records, format 2's payload lines of values. */
function versionCount(sb: Sandbox): number {
  return readFileSync(sb.vault, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('- {"kind":"version"') || l.startsWith('- {"kind":"value"')).length;
}

interface AuditEvent {
  eventName: string;
  secretName?: string;
  outcome: string;
}

/** Every event of the sandbox's audit logs. */
function auditEvents(sb: Sandbox): AuditEvent[] {
  const dir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as AuditEvent),
    );
}

function exported(r: string): Map<string, AwsValue> {
  const list = JSON.parse(r) as AwsValue[];
  assert.ok(Array.isArray(list), 'export --format json is a list');
  return new Map(list.map((v) => [v.Name, v]));
}

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}, got ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /^secrets: error: /m, `${what}: an error message`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

function assertSameValues(got: Map<string, AwsValue>, want: Record<string, string>, what: string): void {
  const names = Object.keys(want);
  assert.equal(got.size, names.length, `${what}: count`);
  const wrong = names.filter((n) => got.get(n)?.SecretString !== want[n]);
  assert.deepEqual(wrong.slice(0, 10), [], `${what}: ${wrong.length} value(s) differ`);
}

describe('import/export of 10,000 secrets', () => {
  let sb: Sandbox;
  let second: Sandbox;
  const data = generate(COUNT, 20240611);
  let dataFile: string;
  let exportText: string;

  before(async () => {
    [sb, second] = await Promise.all([initialisedSandbox(), initialisedSandbox()]);
    dataFile = join(sb.home, 'bulk.json');
    writeFileSync(dataFile, JSON.stringify(data));
  });
  after(() => {
    sb.cleanup();
    second.cleanup();
  });

  test('json import: one vault write, one CreateSecret event per secret; export --format json returns every value exactly', async () => {
    const started = Date.now();
    const by = writer(sb);
    const w0 = writes(sb);
    const imported = await sb.run(['import', '--format', 'json', dataFile, '--json'], { timeoutMs: 60_000 });
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(JSON.parse(imported.stdout), { Created: COUNT, Updated: 0, Unchanged: 0 });
    const w1 = writes(sb);
    assert.equal(w1[by], (w0[by] ?? 0) + 1, 'the writer made exactly one write for all');
    assert.deepEqual(Object.keys(w1), Object.keys(w0));
    assert.equal(versionCount(sb), COUNT);

    const created = auditEvents(sb).filter((e) => e.eventName === 'CreateSecret');
    assert.equal(created.length, COUNT, 'one CreateSecret event per imported secret');
    assert.ok(created.every((e) => e.outcome === 'success'));
    assert.deepEqual(new Set(created.map((e) => e.secretName)), new Set(Object.keys(data)), 'each secret has its event');
    const log = readdirSync(join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit')).map((f) =>
      readFileSync(join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit', f), 'utf8'),
    );
    assert.ok(!log.some((l) => l.includes(data['bulk/s00002'] as string)), 'no value in the audit log');

    const exp = await sb.run(['export', '--format', 'json', '--yes'], { timeoutMs: 60_000 });
    assert.equal(exp.code, 0, exp.stderr);
    exportText = exp.stdout;
    const got = exported(exportText);
    assertSameValues(got, data, 'export');
    for (const v of got.values()) {
      assert.deepEqual(Object.keys(v), ['Name', 'VersionId', 'SecretString', 'VersionStages', 'CreatedDate']);
      assert.deepEqual(v.VersionStages, ['CURRENT']);
    }
    const reads = auditEvents(sb).filter((e) => e.eventName === 'GetSecretValue' && e.outcome === 'success');
    assert.equal(reads.length, COUNT, 'the export audited every read');
    console.log(`10k json import + export: ${Date.now() - started} ms`);
  });

  test('the AWS-shaped export imports into a second, fresh vault exactly (--format aws)', async () => {
    assert.ok(exportText, 'the previous test exported');
    const started = Date.now();
    const file = join(second.home, 'export.json');
    writeFileSync(file, exportText);
    const by = writer(second);
    const w0 = writes(second);
    const r = await second.run(['import', '--format', 'aws', file, '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { Created: COUNT, Updated: 0, Unchanged: 0 });
    assert.equal(writes(second)[by], (w0[by] ?? 0) + 1, 'one write');
    const again = exported(await second.ok(['export', '--format', 'json', '--yes'], { timeoutMs: 60_000 }));
    assertSameValues(again, data, 'second vault');
    console.log(`10k aws import + export into a second vault: ${Date.now() - started} ms`);
  });

  test('re-importing identical data creates no version: 10000 unchanged', async () => {
    const started = Date.now();
    const versions = versionCount(sb);
    const r = await sb.run(['import', '--format', 'json', dataFile], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Imported 10000 secret\(s\): 0 created, 0 updated, 10000 unchanged\./);
    assert.equal(versionCount(sb), versions, 'no new version');
    console.log(`10k identical re-import: ${Date.now() - started} ms`);
  });
});

describe('import and export in detail', () => {
  let sb: Sandbox;
  let other: Sandbox;
  before(async () => {
    [sb, other] = await Promise.all([initialisedSandbox(), initialisedSandbox()]);
  });
  after(() => {
    sb.cleanup();
    other.cleanup();
  });

  test('changed values get a new version (old one PREVIOUS), identical ones are left alone, new names are created', async () => {
    const first = { 'chg/a': 'one', 'chg/b': 'two\n', 'chg/c': 'three ☃', 'chg/d': '' };
    const f = join(sb.home, 'chg.json');
    writeFileSync(f, JSON.stringify(first));
    assert.deepEqual(JSON.parse(await sb.ok(['import', '--format', 'json', f, '--json'])), { Created: 4, Updated: 0, Unchanged: 0 });
    const versions = versionCount(sb);
    const by = writer(sb);
    const w0 = writes(sb);
    const secondData = { 'chg/a': 'one', 'chg/b': 'two', 'chg/c': 'three ☃ changed', 'chg/d': '', 'chg/e': 'new' };
    writeFileSync(f, JSON.stringify(secondData));
    const r = await sb.run(['import', '--format', 'json', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Imported 5 secret\(s\): 1 created, 2 updated, 2 unchanged\./);
    assert.equal(versionCount(sb), versions + 3);
    assert.equal(writes(sb)[by], (w0[by] ?? 0) + 1, 'one write');
    for (const [name, value] of Object.entries(secondData)) assert.equal(await sb.ok(['get', name]), value, name);
    assert.equal(await sb.ok(['get', 'chg/b', '--version-stage', 'PREVIOUS']), 'two\n');
    assert.equal(await sb.ok(['get', 'chg/c', '--version-stage', 'PREVIOUS']), 'three ☃');
    const a = JSON.parse(await sb.ok(['versions', 'chg/a', '--json'])) as unknown;
    assert.equal(JSON.stringify(a).match(/"VersionId"/g)?.length, 1, 'an unchanged secret keeps its one version');
  });

  test('--format json stringifies non-string values; a non-object is a usage error', async () => {
    const f = join(sb.home, 'types.json');
    writeFileSync(f, JSON.stringify({ n: 5, o: { a: 1, b: [true, null] }, t: true, z: null, s: 'str' }));
    await sb.ok(['import', '--format', 'json', '--prefix', 'types/', f]);
    assert.equal(await sb.ok(['get', 'types/n']), '5');
    assert.equal(await sb.ok(['get', 'types/o']), '{"a":1,"b":[true,null]}');
    assert.equal(await sb.ok(['get', 'types/t']), 'true');
    assert.equal(await sb.ok(['get', 'types/z']), 'null');
    assert.equal(await sb.ok(['get', 'types/s']), 'str');
    const before = readFileSync(sb.vault);
    assertExit(await sb.run(['import', '--format', 'json', '-'], { input: '["a"]' }), 2, 'a list for --format json');
    assertExit(await sb.run(['import', '--format', 'json', '-'], { input: '{"a": ' }), 2, 'invalid JSON');
    assertExit(await sb.run(['import', '--format', 'json', '-'], { input: '{"ok/x": "1", "bad name": "2"}' }), 2, 'an invalid name');
    assertExit(await sb.run(['import', '--format', 'xml', '-'], { input: '{}' }), 2, 'unknown format');
    assertExit(await sb.run(['import', join(sb.home, 'no-such-file')]), 3, 'missing file');
    assert.deepEqual(readFileSync(sb.vault), before, 'a failed import writes nothing (not even the valid items)');
  });

  test('dotenv import: KEY becomes PREFIX+KEY, with the usual quoting, comments and export', async () => {
    const text = [
      '# comment',
      'export PLAIN=value',
      "SINGLE='literal $HOME \\n'",
      'DOUBLE="a\\nb \\"q\\" \\\\"',
      'MULTI="line one',
      'line two"',
      'SPACED =   trimmed   # comment',
      'EMPTY=',
      '',
    ].join('\n');
    const r = await sb.run(['import', '--prefix', 'app/prod/', '-'], { input: text });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Imported 6 secret\(s\): 6 created/);
    const want: Record<string, string> = {
      'app/prod/PLAIN': 'value',
      'app/prod/SINGLE': 'literal $HOME \\n',
      'app/prod/DOUBLE': 'a\nb "q" \\',
      'app/prod/MULTI': 'line one\nline two',
      'app/prod/SPACED': 'trimmed',
      'app/prod/EMPTY': '',
    };
    const batch = JSON.parse(await sb.ok(['get', '--filter', 'name=app/prod/', '--json'])) as { SecretValues: AwsValue[] };
    assert.deepEqual(Object.fromEntries(batch.SecretValues.map((v) => [v.Name, v.SecretString])), want);
    // And back out as dotenv: keys are the env names of the secret names.
    const out = await sb.ok(['export', '--format', 'dotenv', '--filter', 'name=app/prod/', '--yes']);
    const parsed = Object.fromEntries(parseDotenv(out, 'export').map((e) => [e.key, e.value]));
    assert.deepEqual(parsed, Object.fromEntries(Object.entries(want).map(([k, v]) => [k.toUpperCase().replace(/[^A-Z0-9_]/g, '_'), v])));
    assertExit(await sb.run(['import', '-'], { input: 'NOT A LINE\n' }), 2, 'bad dotenv');
    // An unquoted PEM body: its base64 lines hold "=", so they parse as KEY=VALUE with a bad KEY.
    // The error names the line and never quotes it.
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 secret-body-marker==';
    const pem = await sb.run(['import', '-'], { input: `KEY=-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n` });
    assertExit(pem, 2, 'a PEM body in dotenv');
    assert.match(pem.stderr, /\(stdin\):2: the text before "=" is not a variable name/);
    for (const piece of ['MIIEvQ', 'secret-body-marker', body.slice(0, 60)]) assert.ok(!pem.stderr.includes(piece), `the error quotes no input (${piece})`);
    // A name scheduled for deletion stops the whole import (exit 4), nothing written.
    await sb.ok(['delete', 'app/prod/EMPTY', '--yes']);
    const before = readFileSync(sb.vault);
    const r2 = await sb.run(['import', '--prefix', 'app/prod/', '-'], { input: 'NEW=1\nEMPTY=x\n' });
    assertExit(r2, 4, 'a deleted name in the import');
    assert.deepEqual(readFileSync(sb.vault), before);
  });

  test('SecretBinary: aws import (single object, list, {SecretValues}) round-trips exact bytes through get and export', async () => {
    const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80]), randomBytes(500)]);
    const small = randomBytes(3);
    writeFileSync(join(sb.home, 'one.json'), JSON.stringify({ Name: 'bin/one', SecretBinary: bytes.toString('base64') }));
    await sb.ok(['import', '--format', 'aws', join(sb.home, 'one.json')]);
    assert.deepEqual((await sb.run(['get', 'bin/one'])).stdoutBytes, bytes);
    await sb.ok(['import', '--format', 'aws', '-'], {
      input: JSON.stringify([
        { Name: 'bin/two', SecretBinary: small.toString('base64') },
        { Name: 'bin/text', SecretString: 'text ☃\n' },
      ]),
    });
    assert.deepEqual((await sb.run(['get', 'bin/two'])).stdoutBytes, small);
    const exp = exported(await sb.ok(['export', '--format', 'json', '--filter', 'name=bin/', '--yes']));
    assert.equal(exp.get('bin/one')?.SecretBinary, bytes.toString('base64'));
    assert.equal(exp.get('bin/one')?.SecretString, undefined);
    assert.equal(exp.get('bin/two')?.SecretBinary, small.toString('base64'));
    assert.equal(exp.get('bin/text')?.SecretString, 'text ☃\n');
    // Batch get output ({SecretValues: […], Errors}) is accepted as it is, into another vault.
    const batch = await sb.ok(['get', '--filter', 'name=bin/', '--json']);
    const r = await other.run(['import', '--format', 'aws', '-', '--json'], { input: batch });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { Created: 3, Updated: 0, Unchanged: 0 });
    assert.deepEqual((await other.run(['get', 'bin/one'])).stdoutBytes, bytes);
    assert.deepEqual((await other.run(['get', 'bin/two'])).stdoutBytes, small);
    assert.equal(await other.ok(['get', 'bin/text']), 'text ☃\n');
    // Identical binary re-import: unchanged.
    assert.deepEqual(JSON.parse(await other.ok(['import', '--format', 'aws', '-', '--json'], { input: batch })), { Created: 0, Updated: 0, Unchanged: 3 });
    // Refused: not base64, neither value, no Name, a name twice; nothing written.
    const before = readFileSync(other.vault);
    for (const [what, input] of [
      ['bad base64', [{ Name: 'bin/bad', SecretBinary: 'not base64!' }]],
      ['no value', [{ Name: 'bin/none' }]],
      ['no Name', [{ SecretString: 'x' }]],
      [
        'twice',
        [
          { Name: 'bin/dup', SecretString: 'x' },
          { Name: 'bin/dup', SecretString: 'y' },
        ],
      ],
    ] as const) {
      assertExit(await other.run(['import', '--format', 'aws', '-'], { input: JSON.stringify(input) }), 2, what);
    }
    assert.deepEqual(readFileSync(other.vault), before);
  });

  test('export needs --yes when stdin is not a terminal (exit 2, nothing printed); unknown formats are usage errors', async () => {
    await sb.ok(['create', 'exp/x', '--value-stdin'], { input: 'exported-value' });
    for (const opts of [{}, { input: 'y\n' }]) {
      const r = await sb.run(['export'], opts);
      assertExit(r, 2, 'export without --yes');
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /--yes/);
      assert.ok(!r.stderr.includes('exported-value'));
    }
    assertExit(await sb.run(['export', '--format', 'dotenv'], { input: '' }), 2, 'dotenv without --yes');
    assertExit(await sb.run(['export', '--format', 'yaml', '--yes']), 2, 'unknown export format');
    const ok = exported(await sb.ok(['export', '--filter', 'name=exp/', '--yes']));
    assert.deepEqual([...ok.keys()], ['exp/x']);
    assert.equal(ok.get('exp/x')?.SecretString, 'exported-value');
    // A binary secret cannot be dotenv.
    assertExit(await sb.run(['export', '--format', 'dotenv', '--filter', 'name=bin/', '--yes']), 2, 'binary as dotenv');
  });
});
