/**
 * The vault file codec (docs/vault-format.md): a real vault file written by the CLI round-trips
 * byte for byte, and any mutation of it either parses into records that re-serialise to exactly the
 * bytes read, or is refused with a DAMAGED_VAULT error naming a line. Never another error type,
 * never prototype pollution.
 */
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { SecretsError } from '../src/core/errors.js';
import type { SecretRecord, VaultFileRecord } from '../src/core/model.js';
import { canonicalJson, HEADER_LINE, parseFile, parseRecordLine } from '../src/store/codec.js';
import { serializeFile, serializeRecord } from './support/format1-writer.js';
import { FORMAT_1, initialisedSandbox } from './support/cli.js';

const RUNS = 500;

/** The real vault file, made by the CLI in a sandbox. */
let fixture = '';
/** Its record lines (no header, no trailing empty string). */
let recordLines: string[] = [];
let fixtureBytes: Uint8Array = new Uint8Array();

before(async () => {
  const sb = await initialisedSandbox(FORMAT_1);
  try {
    await sb.ok(['create', 'app/text', '--value-stdin', '--description', 'a plain text secret'], { input: 'hello world\n' });
    await sb.ok(['create', 'app/json', '--value-stdin', '--tag', 'env=prod'], { input: '{"user":"app","password":"p4ss"}' });
    const bin = join(sb.home, 'value.bin');
    writeFileSync(bin, Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x01, 0xc3, 0x28, 0x0a]));
    await sb.ok(['create', 'app/bin', '--from-file', bin]);
    await sb.ok(['tag', 'app/text', 'owner=team-a', '__proto__=not-a-prototype']);
    await sb.ok(['put', 'app/text', '--value-stdin'], { input: 'second value\n' });
    await sb.ok(['create', 'app/old', '--value-stdin'], { input: 'old' });
    await sb.ok(['delete', 'app/old', '--yes', '--recovery-window-days', '7']);
    fixture = readFileSync(sb.vault, 'utf8');
  } finally {
    sb.cleanup();
  }
  fixtureBytes = new Uint8Array(Buffer.from(fixture, 'utf8'));
  recordLines = fixture.split('\n').slice(1, -1);
});

// ---------------------------------------------------------------------------------------------
// The oracle: parse, then either an exact round trip or a typed DAMAGED_VAULT naming a line.
// ---------------------------------------------------------------------------------------------

function checkParse(text: string): void {
  let parsed: ReturnType<typeof parseFile>;
  try {
    parsed = parseFile(text);
  } catch (err) {
    if (!(err instanceof SecretsError)) {
      throw new Error(`parseFile threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}, not a SecretsError`);
    }
    assert.equal(err.code, 'DAMAGED_VAULT', `unexpected code ${err.code}: ${err.message}`);
    const m = /line (\d+)/.exec(err.message);
    assert.ok(m, `message names no line: ${err.message}`);
    const lineNo = Number(m[1]);
    assert.ok(lineNo >= 1 && lineNo <= text.split('\n').length, `line ${lineNo} is outside the file: ${err.message}`);
    return;
  }
  const lines = text.split('\n');
  assert.equal(parsed.records.length, parsed.raw.length);
  assert.equal(parsed.records.length, parsed.lines.length);
  parsed.records.forEach((record, i) => {
    const again = serializeRecord(record);
    assert.equal(again, parsed.raw[i], `record ${i} does not re-serialise to its raw line`);
    assert.equal(again, lines[(parsed.lines[i] ?? 0) - 1], `record ${i} does not re-serialise to line ${parsed.lines[i]}`);
  });
  // Accepted files are exactly header + re-serialised records.
  assert.equal(serializeFile(parsed.records.map(serializeRecord)), text, 'accepted file is not canonical');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype was polluted');
}

// ---------------------------------------------------------------------------------------------
// Mutations of the real file.
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function setOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Canonical JSON as docs/vault-format.md defines it (kind first, other keys sorted), written independently. */
function canon(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort((a, b) => (a === 'kind' ? -1 : b === 'kind' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canon(o[k])}`).join(',')}}`;
}

function fileOf(lines: readonly string[]): string {
  return `${HEADER_LINE}\n${lines.map((l) => `${l}\n`).join('')}`;
}

function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes); // non-fatal, like readFileSync(…, 'utf8')
}

/** Applies `edit` to record line `at` (mod count) as a parsed JSON object. */
function editJson(at: number, edit: (obj: Record<string, unknown>) => string): string {
  const lines = [...recordLines];
  const i = at % lines.length;
  const obj = JSON.parse((lines[i] as string).slice(2)) as Record<string, unknown>;
  lines[i] = `- ${edit(obj)}`;
  return fileOf(lines);
}

/** Applies a textual edit to the first record line (from `at`, cyclically) where `find` matches. */
function editText(at: number, find: RegExp, edit: (line: string, match: RegExpExecArray) => string): string {
  const lines = [...recordLines];
  for (let k = 0; k < lines.length; k++) {
    const i = (at + k) % lines.length;
    const line = lines[i] as string;
    const m = find.exec(line);
    if (m) {
      lines[i] = edit(line, m);
      return fileOf(lines);
    }
  }
  return fileOf(lines);
}

/** Every path of depth 1 or 2 in a record object. */
function pathsOf(obj: Record<string, unknown>): string[][] {
  const out: string[][] = [];
  for (const k of Object.keys(obj)) {
    out.push([k]);
    const v = obj[k];
    if (v !== null && typeof v === 'object') for (const k2 of Object.keys(v)) out.push([k, k2]);
  }
  return out;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let target: object = obj;
  for (const k of path.slice(0, -1)) target = (target as Record<string, object>)[k] as object;
  setOwn(target, path[path.length - 1] as string, value);
}

/** A JSON value, biased to "another type" than the field holds. */
const anyJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1, 1.5, '', 'x', [], {}, ['admin'], { a: 'b' }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

const HUGE_NUMBERS = [
  '1e400',
  '-1e400',
  '9007199254740993',
  '9007199254740992',
  '12345678901234567890123',
  '1e21',
  '1E2',
  '1.0',
  '1.5',
  '-1',
  '-0',
  '0',
  '01',
  '0x10',
  '2e0',
  '4294967296',
  '18446744073709551616',
  'NaN',
  'Infinity',
  '"1"',
  'null',
  'true',
];

const B64_FIELD = /"(sig|n|ct|enc|sign)":"([A-Za-z0-9+/=]*)"|"[0-9a-f]{16}":"([A-Za-z0-9+/=]{20,})"/g;
const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function mangleBase64(v: string, how: string, at: number): string {
  const pos = v.length === 0 ? 0 : at % v.length;
  switch (how) {
    case 'stripPad':
      return v.replace(/=+$/, '');
    case 'extraPad':
      return `${v}=`;
    case 'padBits': {
      // Set unused low bits in the last data character (non-canonical, still decodable by lax decoders).
      const pads = v.length - v.replace(/=+$/, '').length;
      const idx = v.length - pads - 1;
      if (pads === 0 || idx < 0) return v.slice(0, -1) + (v.endsWith('A') ? 'B' : 'A');
      const val = B64_ALPHABET.indexOf(v[idx] as string);
      const mask = pads === 2 ? 0x0f : 0x03;
      const next = val | (mask & (at | 1));
      return v.slice(0, idx) + B64_ALPHABET[next] + v.slice(idx + 1);
    }
    case 'urlSafe':
      return /[+/]/.test(v) ? v.replace(/\+/g, '-').replace(/\//g, '_') : `-${v.slice(1)}`;
    case 'innerSpace':
      return `${v.slice(0, pos)} ${v.slice(pos)}`;
    case 'innerNewlineEscape':
      return `${v.slice(0, pos)}\\n${v.slice(pos)}`;
    case 'escapedSlash':
      return v.includes('/') ? v.replace('/', '\\/') : `${v.slice(0, pos)}\\u0041${v.slice(pos)}`;
    case 'dropChar':
      return v.slice(0, pos) + v.slice(pos + 1);
    case 'addChar':
      return `${v.slice(0, pos)}A${v.slice(pos)}`;
    case 'lowercase':
      return v.toLowerCase();
    default:
      return v;
  }
}

/** A mutation of the real file, printed by fast-check as this descriptor on failure. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flipBit'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('truncate'), at: fc.nat() }),
  fc.record({ op: fc.constant('insertBytes'), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({
    op: fc.constant('insertLine'),
    at: fc.nat(),
    line: fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        '',
        '- {}',
        '- null',
        '- []',
        '- "x"',
        '- 1',
        '#',
        '-',
        '- ',
        ' - {}',
        '-  {}',
        '- {"kind":"vault"}',
        '- {"kind":"nope"}',
        '- {"kind":null}',
        '- {"kind":"head","ctrs":{}}',
        '\r',
      ),
      fc.jsonValue().map((v) => `- ${JSON.stringify(v)}`),
    ),
  }),
  fc.record({ op: fc.constant('deleteLine'), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicateLine'), at: fc.nat() }),
  fc.record({ op: fc.constant('swapLines'), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant('replaceValue'), line: fc.nat(), path: fc.nat(), value: anyJson, canonical: fc.boolean() }),
  fc.record({
    op: fc.constant('addField'),
    line: fc.nat(),
    nested: fc.boolean(),
    key: fc.oneof(fc.string(), fc.constantFrom('kind', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'sig2', 'by ', '')),
    value: anyJson,
    canonical: fc.boolean(),
  }),
  fc.record({
    op: fc.constant('whitespace'),
    line: fc.nat(),
    at: fc.nat(),
    ws: fc.constantFrom(' ', '  ', '\t', '\r', '\u00a0', '\ufeff'),
  }),
  fc.record({ op: fc.constant('reorderKeys'), line: fc.nat(), rotate: fc.nat(), reverse: fc.boolean() }),
  fc.record({
    op: fc.constant('protoKey'),
    line: fc.nat(),
    where: fc.constantFrom('top', 'tags', 'stages', 'keys', 'ctrs'),
    value: fc.oneof(fc.constant<Json>({ polluted: 'yes' }), fc.constant<Json>('x'), fc.constant<Json>(null), anyJson),
  }),
  fc.record({
    op: fc.constant('hugeNumber'),
    line: fc.nat(),
    field: fc.constantFrom('ctr', 'format', 'ctrs'),
    literal: fc.constantFrom(...HUGE_NUMBERS),
  }),
  fc.record({
    op: fc.constant('base64'),
    line: fc.nat(),
    field: fc.nat(),
    at: fc.nat(),
    how: fc.constantFrom('stripPad', 'extraPad', 'padBits', 'urlSafe', 'innerSpace', 'innerNewlineEscape', 'escapedSlash', 'dropChar', 'addChar', 'lowercase'),
  }),
  fc.record({ op: fc.constant('escapeChar'), line: fc.nat(), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicateKey'), line: fc.nat(), key: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function apply(m: Mutation): string {
  const lines = [...recordLines];
  const n = lines.length;
  switch (m.op) {
    case 'flipBit': {
      const b = new Uint8Array(fixtureBytes);
      const at = m.at % b.length;
      b[at] = (b[at] as number) ^ (1 << m.bit);
      return decodeUtf8(b);
    }
    case 'truncate':
      return decodeUtf8(fixtureBytes.subarray(0, m.at % fixtureBytes.length));
    case 'insertBytes': {
      const at = m.at % (fixtureBytes.length + 1);
      return decodeUtf8(Buffer.concat([fixtureBytes.subarray(0, at), m.bytes, fixtureBytes.subarray(at)]));
    }
    case 'insertLine':
      lines.splice(m.at % (n + 1), 0, m.line);
      return fileOf(lines);
    case 'deleteLine':
      lines.splice(m.at % n, 1);
      return fileOf(lines);
    case 'duplicateLine': {
      const i = m.at % n;
      lines.splice(i, 0, lines[i] as string);
      return fileOf(lines);
    }
    case 'swapLines': {
      const a = m.a % n;
      const b = m.b % n;
      [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
      return fileOf(lines);
    }
    case 'replaceValue':
      return editJson(m.line, (obj) => {
        const paths = pathsOf(obj);
        setPath(obj, paths[m.path % paths.length] as string[], m.value);
        return m.canonical ? canon(obj) : JSON.stringify(obj);
      });
    case 'addField':
      return editJson(m.line, (obj) => {
        let target: object = obj;
        if (m.nested) {
          const maps = Object.keys(obj).filter((k) => obj[k] !== null && typeof obj[k] === 'object' && !Array.isArray(obj[k]));
          if (maps.length > 0) target = obj[maps[m.key.length % maps.length] as string] as object;
        }
        setOwn(target, m.key, m.value);
        return m.canonical ? canon(obj) : JSON.stringify(obj);
      });
    case 'whitespace': {
      const i = m.line % n;
      const line = lines[i] as string;
      const spots = [...line.matchAll(/[{[:,]/g)].map((x) => (x.index ?? 0) + 1);
      spots.push(0, 1, 2, line.length); // before '-', between '-' and ' ', before '{', at the end
      const at = spots[m.at % spots.length] as number;
      lines[i] = line.slice(0, at) + m.ws + line.slice(at);
      return fileOf(lines);
    }
    case 'reorderKeys':
      return editJson(m.line, (obj) => {
        const keys = Object.keys(obj);
        const r = m.rotate % keys.length;
        let order = [...keys.slice(r), ...keys.slice(0, r)];
        if (m.reverse) order = order.reverse();
        const out = {};
        for (const k of order) setOwn(out, k, obj[k]);
        return JSON.stringify(out);
      });
    case 'protoKey': {
      const entry = `"__proto__":${JSON.stringify(m.value)}`;
      const mapOpen = m.where === 'top' ? /^- \{/ : new RegExp(`"${m.where}":\\{`);
      return editText(m.line, mapOpen, (line, match) => {
        const at = (match.index ?? 0) + match[0].length;
        const empty = line[at] === '}';
        return line.slice(0, at) + entry + (empty ? '' : ',') + line.slice(at);
      });
    }
    case 'hugeNumber': {
      const find = m.field === 'ctrs' ? /("ctrs":\{"[0-9a-f]{16}":)(\d+)/ : new RegExp(`("${m.field}":)(\\d+)`);
      return editText(m.line, find, (line, match) => line.replace(match[0], `${match[1]}${m.literal}`));
    }
    case 'base64':
      return editText(m.line, /"(?:sig|n|ct|enc|sign)":"|"[0-9a-f]{16}":"[A-Za-z0-9+/=]{20,}"/, (line) => {
        const fields = [...line.matchAll(B64_FIELD)];
        const f = fields[m.field % fields.length] as RegExpMatchArray;
        const value = (f[2] ?? f[3]) as string;
        const start = (f.index ?? 0) + f[0].length - value.length - 1;
        return line.slice(0, start) + mangleBase64(value, m.how, m.at) + line.slice(start + value.length);
      });
    case 'escapeChar': {
      const i = m.line % n;
      const line = lines[i] as string;
      const spots = [...line.matchAll(/[A-Za-z0-9_]/g)].map((x) => x.index ?? 0);
      const at = spots[m.at % spots.length] as number;
      const code = line.charCodeAt(at).toString(16).padStart(4, '0');
      lines[i] = `${line.slice(0, at)}\\u${code}${line.slice(at + 1)}`;
      return fileOf(lines);
    }
    case 'duplicateKey':
      return editJson(m.line, (obj) => {
        const keys = Object.keys(obj);
        const k = keys[m.key % keys.length] as string;
        const body = canon(obj);
        const pair = `${JSON.stringify(k)}:${canon(obj[k])}`;
        return body.replace(pair, `${pair},${pair}`);
      });
  }
}

// ---------------------------------------------------------------------------------------------

describe('vault file codec', () => {
  it('parses a real vault file made by the CLI, and every record re-serialises to its exact line', () => {
    const parsed = parseFile(fixture);
    const lines = fixture.split('\n');
    assert.equal(parsed.records.length, lines.length - 2, 'one record per line after the header');
    parsed.records.forEach((record, i) => {
      assert.equal(serializeRecord(record), parsed.raw[i]);
      assert.equal(serializeRecord(record), lines[(parsed.lines[i] ?? 0) - 1]);
      assert.equal(parsed.lines[i], i + 2);
    });
    assert.equal(serializeFile(parsed.records.map(serializeRecord)), fixture);

    // The fixture covers what it should: every kind, text/JSON/binary values, tags, two
    // versions with PREVIOUS, a description, a deleted secret, a "__proto__" tag.
    const kinds = new Set(parsed.records.map((r) => r.kind));
    assert.deepEqual([...kinds].sort(), ['head', 'member', 'secret', 'vault', 'version']);
    const versions = parsed.records.filter((r) => r.kind === 'version');
    assert.ok(
      versions.some((v) => v.type === 'binary'),
      'a binary version',
    );
    assert.ok(
      versions.some((v) => v.type === 'string'),
      'a string version',
    );
    const secrets = parsed.records.filter((r): r is SecretRecord => r.kind === 'secret');
    const byName = new Map(secrets.map((s) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), ['app/bin', 'app/json', 'app/old', 'app/text']);
    const text = byName.get('app/text');
    assert.ok(text?.stages.has('PREVIOUS'), 'app/text has a PREVIOUS version');
    assert.equal(text?.description, 'a plain text secret');
    assert.equal(text?.tags.get('__proto__'), 'not-a-prototype');
    assert.equal(byName.get('app/json')?.tags.get('env'), 'prod');
    assert.ok(byName.get('app/old')?.deleted !== undefined && byName.get('app/old')?.purge !== undefined, 'deleted secret');
  });

  it('any mutation of the real file round-trips exactly or is refused with DAMAGED_VAULT naming a line', () => {
    const ops = new Set<string>();
    fc.assert(
      fc.property(mutation, (m) => {
        ops.add(m.op);
        checkParse(apply(m));
      }),
      { numRuns: RUNS },
    );
    assert.equal(ops.size, 16, `every mutation kind was drawn (got ${[...ops].join(', ')})`);
  });

  it('fully random strings are refused with DAMAGED_VAULT naming a line (or round-trip)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 2000 }), fc.string({ unit: 'binary', maxLength: 500 }), fc.string({ unit: 'binary-ascii', maxLength: 2000 })),
        (s) => {
          checkParse(s);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('fully random bytes (decoded as UTF-8) are refused with DAMAGED_VAULT naming a line (or round-trip)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        checkParse(decodeUtf8(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('random record lines after a valid header are refused with DAMAGED_VAULT naming a line (or round-trip)', () => {
    const line = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.jsonValue().map((v) => `- ${JSON.stringify(v)}`),
      fc.jsonValue().map((v) => `- ${canon(v)}`),
      fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })).map((o) => `- ${canon({ kind: 'secret', ...o })}`),
      fc.constantFrom(...recordLines),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), fc.boolean(), (ls, finalNewline) => {
        const text = `${HEADER_LINE}\n${ls.join('\n')}${finalNewline ? '\n' : ''}`;
        checkParse(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('a "__proto__" tag key is data in a Map, never a prototype; __proto__ anywhere else pollutes nothing', () => {
    const secretLine = recordLines.find((l) => l.includes('"kind":"secret"') && l.includes('"name":"app/json"')) as string;
    assert.ok(secretLine);
    const withProto = secretLine.replace('"tags":{', '"tags":{"__proto__":"polluted-value",');
    const record = parseRecordLine(withProto, 7) as SecretRecord;
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.ok(record.tags instanceof Map);
    assert.equal(record.tags.get('__proto__'), 'polluted-value');
    assert.equal(record.tags.get('env'), 'prod');
    assert.equal(Object.getPrototypeOf(record), Object.prototype);
    assert.equal(serializeRecord(record), withProto, 'the __proto__ tag survives re-serialisation');

    // An object-valued __proto__ at the top level and in every map: refused, nothing polluted.
    const evil = '{"polluted":"yes","toString":"boom"}';
    const variants = [
      secretLine.replace('- {"kind":"secret",', `- {"kind":"secret","__proto__":${evil},`),
      secretLine.replace('"tags":{', `"tags":{"__proto__":${evil},`),
      secretLine.replace('"stages":{', `"stages":{"__proto__":${evil},`),
    ];
    const versionLine = recordLines.find((l) => l.includes('"kind":"version"')) as string;
    variants.push(versionLine.replace('"keys":{', `"keys":{"__proto__":${evil},`));
    const headLine = recordLines.find((l) => l.includes('"kind":"head"')) as string;
    variants.push(headLine.replace('"ctrs":{', `"ctrs":{"__proto__":${evil},`));
    for (const line of variants) {
      assert.notEqual(line, secretLine);
      assert.throws(
        () => parseRecordLine(line, 3),
        (e: unknown) => e instanceof SecretsError && e.code === 'DAMAGED_VAULT' && /line 3/.test(e.message),
        line.slice(0, 80),
      );
      assert.throws(() => parseFile(fileOf([...recordLines, line])), SecretsError);
      const probe: Record<string, unknown> = {};
      assert.equal(probe['polluted'], undefined, 'Object.prototype was polluted');
      assert.equal(typeof probe.toString, 'function');
    }
    const parsed = parseFile(fixture);
    for (const r of parsed.records as VaultFileRecord[]) {
      assert.equal(Object.getPrototypeOf(r), Object.prototype);
    }
  });

  it('deeply nested JSON in a record is DAMAGED_VAULT naming the line, not a RangeError', () => {
    // A 1 MiB line can nest ~500,000 levels; the canonical-form check must not blow the stack.
    for (const depth of [10, 1_000, 10_000, 100_000, 400_000]) {
      const line = `- {"kind":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      assert.throws(
        () => parseFile(fileOf([line])),
        (e: unknown) => {
          assert.ok(e instanceof SecretsError, `depth ${depth}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
          assert.equal(e.code, 'DAMAGED_VAULT');
          assert.match(e.message, /line 2\b/);
          return true;
        },
      );
    }
  });

  it('DAMAGED_VAULT messages are one printable line of bounded length, whatever the file holds', () => {
    // The message reaches stderr as "secrets: error: <message>": a key from a hostile vault must
    // not carry newlines or terminal escapes into it, nor make it megabytes long.
    const vaultLine = recordLines[0] as string;
    const hostileKeys = ['\n\u001b[2J\u001b[31mFAKE PROMPT> ', '\u0007\r', 'x'.repeat(100_000)];
    for (const key of hostileKeys) {
      // Keep the line canonical (the key in its sorted place) so the check that fires is the unknown-field one.
      const line = `- ${canon({ ...(JSON.parse(vaultLine.slice(2)) as object), [key]: 1 })}`;
      assert.throws(
        () => parseFile(fileOf([line])),
        (e: unknown) => {
          assert.ok(e instanceof SecretsError && e.code === 'DAMAGED_VAULT');
          assert.doesNotMatch(e.message, /[\u0000-\u001f\u007f-\u009f]/, `control characters in ${JSON.stringify(e.message.slice(0, 120))}`);
          assert.ok(e.message.length <= 500, `message is ${e.message.length} characters long`);
          return true;
        },
      );
    }
  });
});

describe('the canonical-form check', () => {
  // parseRecordLine takes JSON.stringify when the keys are already in canonical order and
  // canonicalJson otherwise; both must accept and refuse exactly the same lines.
  const isNotCanonical = (line: string): boolean => {
    try {
      parseRecordLine(line, 2);
      return false;
    } catch (err) {
      return err instanceof SecretsError && /not in canonical form/.test(err.message);
    }
  };
  it('accepts every line in canonical form and refuses every other order, integer-like keys included', () => {
    const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('kind', '0', '1', '9', '10', '__proto__', 'a', 'b'));
    const obj = fc.dictionary(key, fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.dictionary(key, fc.integer(), { maxKeys: 4 })), { maxKeys: 6 });
    fc.assert(
      fc.property(obj, (o) => {
        const canonical = canonicalJson(o);
        assert.equal(isNotCanonical(`- ${canonical}`), false, canonical);
        const plain = JSON.stringify(o);
        assert.equal(isNotCanonical(`- ${plain}`), plain !== canonical, plain);
      }),
      { numRuns: 500 },
    );
  });
});
