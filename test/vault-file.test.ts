/**
 * The vault file on disk (docs/vault-format.md), end to end through the built binary: no stored
 * value appears in it in any common encoding, and it is a YAML sequence that any YAML tool reads as
 * the same records the CLI reads line by line with JSON.parse.
 */
import { test } from 'node:test';
import { deepEqual, equal, ok } from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { type Sandbox, initialisedSandbox, marker, FORMAT_1 } from './support/cli.js';

/** Every way a value's bytes could show up in a text file. */
function encodingsOf(bytes: Buffer): string[] {
  const out = new Set<string>();
  out.add(bytes.toString('hex')); // compared case-insensitively below
  // base64 at every byte alignment, full groups only, so an embedding inside a longer base64
  // string (a value that is a suffix of something larger) is still found.
  for (let shift = 0; shift < 3; shift++) {
    const part = bytes.subarray(shift);
    const full = Math.floor(part.length / 3) * 4;
    out.add(part.toString('base64').slice(0, full));
    out.add(part.toString('base64url').slice(0, full));
  }
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes)) {
    out.add(text);
    out.add(JSON.stringify(text).slice(1, -1)); // as escaped inside a JSON string
  }
  for (const e of out) ok(e.length >= 16, 'encodings are long enough not to match by chance');
  return [...out];
}

function identityKeyLine(sb: Sandbox): string {
  const path = join(sb.env['XDG_CONFIG_HOME'] as string, 'secrets', 'identity.key');
  const line = readFileSync(path, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SECRETS-KEY-1'));
  ok(line, 'the sandbox identity is in the fallback file');
  return line;
}

test('the vault file holds no encoding of any value and reads as YAML the same as line by line JSON', async () => {
  const sb = await initialisedSandbox(FORMAT_1);
  try {
    const text1 = marker();
    const text2 = marker();
    const jsonField = marker();
    const jsonValue = JSON.stringify({ username: 'svc-app', password: jsonField.value, port: 5432 });
    // Random bytes, made invalid UTF-8 on purpose so the secret is stored as binary.
    const binary = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(61)]);
    const binPath = join(sb.home, 'value.bin');
    writeFileSync(binPath, binary, { mode: 0o600 });

    await sb.ok(['create', 'app/text', '--value-stdin', '--tag', 'env=prod', '--description', 'yes: - &a *b # not a comment {x} [y]'], {
      input: text1.value,
    });
    await sb.ok(['put', 'app/text', '--value-stdin'], { input: text2.value });
    await sb.ok(['create', 'app/json', '--value-stdin', '--tag', 'kind=db: pg'], { input: jsonValue });
    await sb.ok(['create', 'app/bin', '--from-file', binPath]);

    // The values round-trip (so the checks below are about a vault that really holds them).
    equal(await sb.ok(['get', 'app/text']), text2.value);
    equal(await sb.ok(['get', 'app/text', '--version-stage', 'PREVIOUS']), text1.value);
    equal(await sb.ok(['get', 'app/json', '--field', 'password']), jsonField.value);
    const got = await sb.run(['get', 'app/bin']);
    equal(got.code, 0, got.stderr);
    ok(got.stdoutBytes.equals(binary), 'binary value round-trips byte for byte');

    const fileBytes = readFileSync(sb.vault);
    const file = fileBytes.toString('utf8');
    ok(Buffer.from(file, 'utf8').equals(fileBytes), 'the vault file is valid UTF-8');
    ok(file.includes('"type":"binary"'), 'the binary secret is stored as binary');

    // No value in any encoding.
    const forbidden: [string, string][] = [];
    for (const [what, bytes] of [
      ['text v1', Buffer.from(text1.value)],
      ['text v2', Buffer.from(text2.value)],
      ['json value', Buffer.from(jsonValue)],
      ['json field', Buffer.from(jsonField.value)],
      ['binary', binary],
    ] as const) {
      for (const e of encodingsOf(bytes)) forbidden.push([what, e]);
    }
    for (const m of [text1, text2, jsonField]) for (const e of m.encodings) forbidden.push(['marker', e]);
    // Nor the identity key (the seed): it belongs in the keychain or the identity file only.
    const keyLine = identityKeyLine(sb);
    const seed = Buffer.from(keyLine.slice('SECRETS-KEY-1'.length), 'base64url');
    equal(seed.length, 32);
    forbidden.push(['identity key line', keyLine]);
    for (const e of encodingsOf(seed)) forbidden.push(['identity seed', e]);
    const lower = file.toLowerCase();
    for (const [what, e] of forbidden) {
      const hit = /^[0-9a-f]+$/i.test(e) ? lower.includes(e.toLowerCase()) : file.includes(e);
      ok(!hit, `the vault file contains the ${what} (as ${e.slice(0, 12)}…)`);
    }

    // YAML: a sequence of mappings with a kind, equal to JSON.parse of each line after "- ".
    const doc = parseDocument(file);
    deepEqual(doc.errors, [], 'YAML parse errors');
    deepEqual(doc.warnings, [], 'YAML parse warnings');
    const items: unknown = parse(file);
    ok(Array.isArray(items), 'the vault file is a YAML sequence');
    const lines = file.split('\n');
    equal(lines.pop(), '', 'final newline');
    ok(lines[0]?.startsWith('# '), 'line 1 is a YAML comment');
    const recordLines = lines.slice(1);
    equal(items.length, recordLines.length, 'one YAML item per record line');
    const kinds = new Set(['vault', 'member', 'head', 'secret', 'version']);
    recordLines.forEach((line, i) => {
      ok(line.startsWith('- {') && line.endsWith('}'), `line ${i + 2} is "- " + a flow mapping`);
      const item: unknown = items[i];
      ok(typeof item === 'object' && item !== null && !Array.isArray(item), `item ${i} is a mapping`);
      const kind = (item as Record<string, unknown>)['kind'];
      ok(typeof kind === 'string' && kinds.has(kind), `item ${i} has a known kind, got ${String(kind)}`);
      deepEqual(JSON.parse(line.slice(2)), item, `line ${i + 2}: YAML and JSON.parse agree`);
      equal(Object.keys(item)[0], 'kind', `line ${i + 2}: kind comes first`);
    });
    const parsedKinds = (items as { kind: string }[]).map((r) => r.kind);
    equal(parsedKinds[0], 'vault');
    equal(parsedKinds.filter((k) => k === 'head').length, 1);
    equal(parsedKinds.filter((k) => k === 'secret').length, 3);
    equal(parsedKinds.filter((k) => k === 'version').length, 4);
    // Plaintext metadata is there, readable by YAML tools, exactly as given.
    const text = (items as Record<string, unknown>[]).find((r) => r['kind'] === 'secret' && r['name'] === 'app/text');
    equal(text?.['description'], 'yes: - &a *b # not a comment {x} [y]');
    deepEqual(text?.['tags'], { env: 'prod' });
  } finally {
    sb.cleanup();
  }
});
