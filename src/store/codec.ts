/**
 * The vault file format, version 1 (docs/vault-format.md): a comment line, then a YAML sequence
 * with one record per line, each a canonical JSON flow mapping. Parsing is strict: size caps,
 * exact field sets, canonical encodings (re-serialising a record must give back its bytes), no
 * prototype keys. Every failure is a DAMAGED_VAULT error naming the line. This version only
 * reads format 1: the encoder that writes records and files is test support
 * (test/support/format1-writer.ts), which builds the format-1 vaults the reader is tested on.
 */
import { SecretsError } from '../core/errors.js';
import type { HeadRecord, MemberRecord, PolicyRecord, SecretRecord, VaultFileRecord, VaultRecord, VersionRecord } from '../core/model.js';
import { MAX_KEPT } from '../core/model.js';
import { isLabel, isMemberName, isPrintable, isSecretName, isTag, MAX_LABELS, MAX_TAGS, MAX_VALUE_BYTES } from '../core/names.js';
import { checkPolicy, isPolicyName } from '../core/policy.js';
import type { RotationSpec } from '../core/ops.js';
import type { RotationConfig, RotationRandom } from '../core/rotation.js';

/** The first line of every vault file. */
export const HEADER_LINE = '# secrets vault, format 1. Managed by the secrets CLI; do not edit by hand.';
/** Upper bound for one record line: a 64 KiB value in base64 plus sealed keys for many readers. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Upper bound for a vault file we are willing to parse. */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;
const LINE_PREFIX = '- ';

/** A JSON value as the canonical codecs (format 1 and format 2) read and write it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Records nest at most three levels; anything deeper is refused before it can exhaust the stack. */
const MAX_DEPTH = 8;

class TooDeep extends Error {}

/** Canonical JSON: `kind` first, other keys sorted, no whitespace. Deterministic for any record. */
export function canonicalJson(value: Json, depth = 0): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => (a === 'kind' ? -1 : b === 'kind' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json, depth + 1)}`).join(',')}}`;
}

/**
 * True when every object in `value` already has its keys in canonical order, so that
 * JSON.stringify(value) is exactly canonicalJson(value): the fast path of parseRecordLine.
 * False sends the caller to canonicalJson (integer-like keys, which V8 reorders, land there).
 */
function inCanonicalOrder(value: Json, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v) => inCanonicalOrder(v, depth + 1));
  let prev: string | undefined;
  for (const k of Object.keys(value)) {
    if (prev !== undefined && (k === 'kind' || (prev !== 'kind' && !(prev < k)))) return false;
    if (!inCanonicalOrder(value[k] as Json, depth + 1)) return false;
    prev = k;
  }
  return true;
}

/** A map as a JSON object; `defineProperty`, so a key such as `__proto__` stays an own key. */
export function mapToJson<V extends Json>(map: ReadonlyMap<string, V>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of map) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** The JSON object of a record, with or without its signature. */
export function recordToJson(record: VaultFileRecord, withSig = true): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    if (k === 'sig' && !withSig) continue;
    // Format 1 keeps every date in the record itself: the flag for format 2's planner is not written.
    if (k === 'restored') continue;
    if (v instanceof Map) out[k] = mapToJson(v as Map<string, Json>);
    else out[k] = v as Json;
  }
  return out;
}

/** The bytes a record's signature covers. */
export function signedBytesOf(record: VaultFileRecord): string {
  return canonicalJson(recordToJson(record, false));
}

/** A parsed file: records with their line numbers and raw lines. */
export interface ParsedFile {
  readonly records: readonly VaultFileRecord[];
  /** 1-based line number of each record, same order as `records`. */
  readonly lines: readonly number[];
  /** The raw text of each record line, same order. */
  readonly raw: readonly string[];
}

/** A value from the file, safe to print: quoted, escaped, short. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** The codec's one error: DAMAGED_VAULT naming the line. */
export function damaged(line: number, what: string): SecretsError {
  return new SecretsError(
    'DAMAGED_VAULT',
    `vault file is damaged at line ${line}: ${what}`,
    'the file was not changed; restore it from a backup or from git, then run `secrets doctor`',
  );
}

/** Parses a whole vault file. Throws DAMAGED_VAULT naming the first bad line. */
export function parseFile(text: string): ParsedFile {
  if (text.length > MAX_FILE_BYTES) throw damaged(1, 'file is larger than the 1 GiB limit');
  if (text.length === 0) throw damaged(1, 'file is empty');
  const parts = text.split('\n');
  if (parts[parts.length - 1] !== '') throw damaged(parts.length, 'file is truncated (no final newline)');
  parts.pop();
  if (parts[0] !== HEADER_LINE) throw damaged(1, 'missing or altered header line (is this a secrets vault?)');
  const records: VaultFileRecord[] = [];
  const lines: number[] = [];
  const raw: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const lineNo = i + 1;
    const line = parts[i] as string;
    records.push(parseRecordLine(line, lineNo));
    lines.push(lineNo);
    raw.push(line);
  }
  return { records, lines, raw };
}

/** Parses one record line strictly. */
export function parseRecordLine(line: string, lineNo: number): VaultFileRecord {
  if (line.length > MAX_LINE_BYTES) throw damaged(lineNo, 'record is larger than the 1 MiB limit');
  if (!line.startsWith(LINE_PREFIX)) throw damaged(lineNo, 'not a record line');
  return toRecord(parseCanonicalObject(line.slice(LINE_PREFIX.length), lineNo), lineNo);
}

/**
 * A record's JSON text as an object, if it is one in canonical form: valid JSON, an object,
 * nested at most MAX_DEPTH, and byte for byte what canonicalJson gives back. DAMAGED_VAULT otherwise.
 */
export function parseCanonicalObject(body: string, lineNo: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw damaged(lineNo, 'record is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw damaged(lineNo, 'record is not an object');
  let canonical: string;
  try {
    canonical = inCanonicalOrder(value as Json) ? JSON.stringify(value) : canonicalJson(value as Json);
  } catch (err) {
    if (err instanceof TooDeep) throw damaged(lineNo, 'record is nested too deeply');
    throw err;
  }
  if (canonical !== body) throw damaged(lineNo, 'record is not in canonical form');
  return value as Record<string, unknown>;
}

// ---- strict field readers ----

/** Reads a record's fields strictly: each reader checks type and size; `done` refuses any field not read. */
export class Fields {
  readonly #obj: Record<string, unknown>;
  readonly #line: number;
  readonly #seen = new Set<string>();
  readonly #prefix: string;

  constructor(obj: Record<string, unknown>, line: number, prefix = '') {
    this.#obj = obj;
    this.#line = line;
    this.#prefix = prefix;
  }

  #get(key: string): unknown {
    this.#seen.add(key);
    return Object.prototype.hasOwnProperty.call(this.#obj, key) ? this.#obj[key] : undefined;
  }

  fail(what: string): SecretsError {
    return damaged(this.#line, what);
  }

  str(key: string, max = 4096): string {
    const v = this.#get(key);
    if (typeof v !== 'string' || v.length > max) throw this.fail(`field "${key}" is missing or not a valid string`);
    return v;
  }

  optStr(key: string, max = 4096): string | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length > max) throw this.fail(`field "${key}" is not a valid string`);
    return v;
  }

  b64(key: string, max: number): string {
    const v = this.str(key, max);
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) throw this.fail(`field "${key}" is not canonical base64`);
    return v;
  }

  time(key: string): string {
    const v = this.str(key, 64);
    if (!isIsoTime(v)) throw this.fail(`field "${key}" is not a timestamp`);
    return v;
  }

  optTime(key: string): string | undefined {
    const v = this.optStr(key, 64);
    if (v !== undefined && !isIsoTime(v)) throw this.fail(`field "${key}" is not a timestamp`);
    return v;
  }

  int(key: string): number {
    const v = this.#get(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.fail(`field "${key}" is not a counter`);
    return v;
  }

  strMap(key: string, maxEntries: number, check: (k: string, v: string) => boolean): ReadonlyMap<string, string> {
    const v = this.#get(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(`field "${key}" is not a map`);
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > maxEntries) throw this.fail(`field "${key}" has too many entries`);
    const out = new Map<string, string>();
    for (const [k, val] of entries) {
      if (typeof val !== 'string' || !check(k, val)) throw this.fail(`field "${key}" has an invalid entry`);
      out.set(k, val);
    }
    return out;
  }

  optStrMap(key: string, maxEntries: number, check: (k: string, v: string) => boolean): ReadonlyMap<string, string> | undefined {
    return this.#get(key) === undefined ? undefined : this.strMap(key, maxEntries, check);
  }

  intMap(key: string): ReadonlyMap<string, number> {
    const v = this.#get(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(`field "${key}" is not a map`);
    const out = new Map<string, number>();
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (!IDENTITY_ID.test(k) || typeof val !== 'number' || !Number.isSafeInteger(val) || val < 1) {
        throw this.fail(`field "${key}" has an invalid entry`);
      }
      out.set(k, val);
    }
    return out;
  }

  /** A list of at most `max` strings, each at most `itemMax` characters. */
  strList(key: string, max: number, itemMax = 64): readonly string[] {
    const v = this.#get(key);
    if (!Array.isArray(v) || v.length > max || v.some((x) => typeof x !== 'string' || x.length > itemMax)) {
      throw this.fail(`field "${key}" is not a list of strings`);
    }
    return v as string[];
  }

  optStrList(key: string, max: number, itemMax = 64): readonly string[] | undefined {
    return this.#get(key) === undefined ? undefined : this.strList(key, max, itemMax);
  }

  /** An optional list of signatures (canonical base64 of 64 bytes each), sorted and unique. */
  optSigList(key: string, max: number): readonly string[] | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length > max) throw this.fail(`field "${key}" is not a list of signatures`);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x !== 'string' || x.length !== 88 || Buffer.from(x, 'base64').toString('base64') !== x)
        throw this.fail(`field "${key}" is not a list of signatures`);
      if (i > 0 && !((v[i - 1] as string) < x)) throw this.fail(`field "${key}" is not sorted`);
    }
    return v as string[];
  }

  /** A JSON value as stored (already canonical and depth-checked). */
  json(key: string): unknown {
    const v = this.#get(key);
    if (v === undefined) throw this.fail(`field "${key}" is missing`);
    return v;
  }

  optAct(key: string): string | undefined {
    const v = this.optStr(key, 64);
    if (v !== undefined && !/^[A-Za-z]{1,64}$/.test(v)) throw this.fail(`field "${key}" is not an action name`);
    return v;
  }

  optInt(key: string): number | undefined {
    return this.#get(key) === undefined ? undefined : this.int(key);
  }

  bool(key: string): boolean {
    const v = this.#get(key);
    if (typeof v !== 'boolean') throw this.fail(`field "${this.#prefix}${key}" is not true or false`);
    return v;
  }

  optBool(key: string): boolean | undefined {
    return this.#get(key) === undefined ? undefined : this.bool(key);
  }

  /** A nested plain object, if present. */
  optObject(key: string): Record<string, unknown> | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(`field "${this.#prefix}${key}" is not a map`);
    return v as Record<string, unknown>;
  }

  /** Refuses any field not read. */
  done(): void {
    for (const k of Object.keys(this.#obj)) {
      if (!this.#seen.has(k)) throw this.fail(`unknown field ${quote(this.#prefix + k)}`);
    }
  }
}

/** A member's id: 16 hex digits. */
export const IDENTITY_ID = /^[0-9a-f]{16}$/;
/** A secret's or version's id. */
export const ID = /^[A-Za-z0-9-]{1,64}$/;

/** An ISO time with milliseconds, as `Date.prototype.toISOString` writes it. */
export function isIsoTime(v: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) && !Number.isNaN(Date.parse(v));
}

/** A string field without control characters. */
export function printable(f: Fields, key: string, max: number): string {
  const v = f.str(key, max);
  if (!isPrintable(v)) throw f.fail(`field "${key}" contains control characters`);
  return v;
}

function signedFields(f: Fields): { by: string; ctr: number; sig: string } {
  const by = f.str('by', 16);
  if (!IDENTITY_ID.test(by)) throw f.fail('field "by" is not an identity id');
  const ctr = f.int('ctr');
  if (ctr < 1) throw f.fail('field "ctr" must be at least 1');
  const sig = f.b64('sig', 88);
  if (sig.length !== 88) throw f.fail('field "sig" is not a signature');
  return { by, ctr, sig };
}

function optAct(f: Fields): { act?: string } {
  const act = f.optAct('act');
  return act !== undefined ? { act } : {};
}

/** Built-in handlers, a local handler's name, or (from older vaults, never run) a path. */
const HANDLER = /^(?:password|postgres|mysql|command:[a-z0-9][a-z0-9._-]{0,63}|command:\/[^\u0000-\u001f]{1,1023})$/;
/** A rotation window: 1 to 99999 minutes, hours or days. */
export const DURATION = /^[1-9]\d{0,4}[mhd]$/;
/** The characters of a cron expression (parsed in full by core/schedule.ts when it is used). */
export const CRON = /^[0-9A-Za-z*?/,\-#LW ]{1,256}$/;
const RANDOM_FLAGS = ['excludeNumbers', 'excludePunctuation', 'excludeUppercase', 'excludeLowercase', 'includeSpace', 'requireEachIncludedType'] as const;

/** The password generator's options, read strictly from `g` (the caller calls `g.done()`). */
export function readRotationRandom(g: Fields, what: string): RotationRandom {
  const out: Record<string, unknown> = {};
  const length = g.optInt('length');
  if (length !== undefined) {
    if (length < 1 || length > 4096) throw g.fail(`field "${what}.length" must be 1 to 4096`);
    out['length'] = length;
  }
  const exclude = g.optStr('excludeCharacters', 4096);
  if (exclude !== undefined) out['excludeCharacters'] = exclude;
  for (const flag of RANDOM_FLAGS) {
    const v = g.optBool(flag);
    if (v !== undefined) out[flag] = v;
  }
  return out;
}

/**
 * The settings of a rotation (all but its times), read from `r`, whose unread fields the caller
 * refuses: a secret record's `rotation` map, or a format-2 RotateSecret's.
 */
export function readRotationSpec(r: Fields, line: number): RotationSpec {
  const handler = r.str('handler', 1032);
  if (!HANDLER.test(handler)) throw r.fail('field "rotation.handler" is not a rotation handler');
  const enabled = r.bool('enabled');
  const every = r.optInt('every');
  if (every !== undefined && (every < 1 || every > 1000)) throw r.fail('field "rotation.every" must be 1 to 1000 days');
  const cron = r.optStr('cron', 256);
  if (cron !== undefined && !CRON.test(cron)) throw r.fail('field "rotation.cron" is not a cron expression');
  if (every !== undefined && cron !== undefined) throw r.fail('a rotation has at most one of "every" and "cron"');
  const window = r.optStr('window', 8);
  if (window !== undefined && !DURATION.test(window)) throw r.fail('field "rotation.window" is not a duration');
  const strategy = r.optStr('strategy', 32);
  if (strategy !== undefined && strategy !== 'single-user' && strategy !== 'alternating-users') throw r.fail('field "rotation.strategy" is invalid');
  const master = r.optStr('master', 256);
  if (master !== undefined && !isSecretName(master)) throw r.fail('field "rotation.master" is not a secret name');
  const randomRaw = r.optObject('random');
  let random: RotationRandom | undefined;
  if (randomRaw !== undefined) {
    const g = new Fields(randomRaw, line, 'rotation.random.');
    random = readRotationRandom(g, 'rotation.random');
    g.done();
  }
  return {
    handler,
    enabled,
    ...(every !== undefined ? { every } : {}),
    ...(cron !== undefined ? { cron } : {}),
    ...(window !== undefined ? { window } : {}),
    ...(strategy !== undefined ? { strategy } : {}),
    ...(master !== undefined ? { master } : {}),
    ...(random !== undefined ? { random } : {}),
  };
}

/** The optional `rotation` map of a secret record, read as strictly as a record. */
function optRotation(f: Fields, line: number): { rotation?: RotationConfig } {
  const raw = f.optObject('rotation');
  if (raw === undefined) return {};
  const r = new Fields(raw, line, 'rotation.');
  const spec = readRotationSpec(r, line);
  const since = r.time('since');
  const last = r.optTime('last');
  r.done();
  return { rotation: { ...spec, since, ...(last !== undefined ? { last } : {}) } };
}

/** A `rotation` map read exactly as strictly as in a secret record (the backup payload uses it). */
export function rotationFromJson(raw: unknown): RotationConfig {
  const rotation = optRotation(new Fields({ rotation: raw }, 0), 0).rotation;
  if (rotation === undefined) throw damaged(0, 'field "rotation" is missing');
  return rotation;
}

/** A member's name: printable and valid. */
export function memberName(f: Fields): string {
  const name = printable(f, 'name', 128);
  if (!isMemberName(name)) throw f.fail('field "name" is not a valid member name');
  return name;
}

/** A secret's or version's id. */
export function id(f: Fields, key: string): string {
  const v = f.str(key, 64);
  if (!ID.test(v)) throw f.fail(`field "${key}" is not an id`);
  return v;
}

function toRecord(obj: Record<string, unknown>, line: number): VaultFileRecord {
  const f = new Fields(obj, line);
  const kind = f.str('kind', 16);
  let record: VaultFileRecord;
  switch (kind) {
    case 'vault': {
      const format = f.int('format');
      if (format !== 1) throw f.fail(`unsupported vault format ${format}`);
      record = { kind, id: id(f, 'id'), format: 1, name: printable(f, 'name', 256), created: f.time('created'), ...signedFields(f) } satisfies VaultRecord;
      break;
    }
    case 'member': {
      const memberId = f.str('id', 16);
      if (!IDENTITY_ID.test(memberId)) throw f.fail('field "id" is not an identity id');
      const enc = f.b64('enc', 44);
      const sign = f.b64('sign', 44);
      if (enc.length !== 44 || sign.length !== 44) throw f.fail('member keys have the wrong length');
      const roles = f.strList('roles', 16);
      if (roles.length !== 1 || (roles[0] !== 'admin' && roles[0] !== 'member')) throw f.fail('field "roles" must be ["admin"] or ["member"]');
      const removed = f.optTime('removed');
      const exposed = f.optStrList('exposed', 1_000_000);
      if (exposed?.some((x) => !ID.test(x))) throw f.fail('field "exposed" has an invalid secret id');
      const kept = f.optSigList('kept', MAX_KEPT);
      const held = f.optStrList('held', 1_000_000);
      if (held?.some((x) => !ID.test(x))) throw f.fail('field "held" has an invalid secret id');
      record = {
        kind,
        id: memberId,
        name: memberName(f),
        enc,
        sign,
        roles,
        added: f.time('added'),
        ...(removed !== undefined ? { removed } : {}),
        ...(exposed !== undefined ? { exposed } : {}),
        ...(kept !== undefined ? { kept } : {}),
        ...(held !== undefined ? { held } : {}),
        ...signedFields(f),
      } satisfies MemberRecord;
      break;
    }
    case 'policy': {
      const name = f.optStr('name', 128);
      const secret = f.optStr('secret', 64);
      if ((name === undefined) === (secret === undefined)) throw f.fail('a policy record has exactly one of "name" and "secret"');
      if (name !== undefined && !isPolicyName(name)) throw f.fail('field "name" is not a valid policy name');
      if (secret !== undefined && !ID.test(secret)) throw f.fail('field "secret" is not an id');
      const doc = f.json('doc');
      if (!checkPolicy(doc, secret !== undefined ? 'resource' : 'identity').policy) throw f.fail('field "doc" is not a valid policy');
      const attached = f.strList('attached', 10_000);
      if (attached.some((x) => !IDENTITY_ID.test(x)) || (secret !== undefined && attached.length > 0)) throw f.fail('field "attached" is invalid');
      record = {
        kind,
        ...(name !== undefined ? { name } : {}),
        ...(secret !== undefined ? { secret } : {}),
        doc,
        attached,
        changed: f.time('changed'),
        ...signedFields(f),
      } satisfies PolicyRecord;
      break;
    }
    case 'head': {
      const digest = f.str('digest', 64);
      if (!/^[0-9a-f]{64}$/.test(digest)) throw f.fail('field "digest" is not a SHA-256 digest');
      const audit = f.optStrMap('audit', 10_000, (k, v) => IDENTITY_ID.test(k) && /^[0-9a-f]{16}:\d{1,15}:[0-9a-f]{64}$/.test(v));
      record = { kind, ctrs: f.intMap('ctrs'), digest, at: f.time('at'), ...(audit !== undefined ? { audit } : {}), ...signedFields(f) } satisfies HeadRecord;
      break;
    }
    case 'secret': {
      const description = f.optStr('description', 2048);
      if (description !== undefined && !isPrintable(description)) throw f.fail('field "description" contains control characters');
      const name = f.str('name', 256);
      if (!isSecretName(name)) throw f.fail('field "name" is not a valid secret name');
      const deleted = f.optTime('deleted');
      const purge = f.optTime('purge');
      record = {
        kind,
        id: id(f, 'id'),
        name,
        ...(description !== undefined ? { description } : {}),
        tags: f.strMap('tags', MAX_TAGS, isTag),
        stages: f.strMap('stages', MAX_LABELS, (k, v) => isLabel(k) && ID.test(v)),
        created: f.time('created'),
        changed: f.time('changed'),
        ...(deleted !== undefined ? { deleted } : {}),
        ...(purge !== undefined ? { purge } : {}),
        ...optAct(f),
        ...optRotation(f, line),
        ...signedFields(f),
      } satisfies SecretRecord;
      break;
    }
    case 'version': {
      const type = f.str('type', 8);
      if (type !== 'string' && type !== 'binary') throw f.fail('field "type" must be string or binary');
      const n = f.b64('n', 32);
      if (n.length !== 32) throw f.fail('field "n" is not a 24-byte nonce');
      record = {
        kind,
        secret: id(f, 'secret'),
        id: id(f, 'id'),
        created: f.time('created'),
        type,
        n,
        ct: f.b64('ct', Math.ceil(((MAX_VALUE_BYTES + 16) * 4) / 3) + 4),
        keys: f.strMap('keys', 10_000, (k, v) => IDENTITY_ID.test(k) && v.length === 108),
        ...optAct(f),
        ...signedFields(f),
      } satisfies VersionRecord;
      break;
    }
    default:
      throw damaged(line, `unknown record kind ${quote(kind)}`);
  }
  f.done();
  return record;
}
