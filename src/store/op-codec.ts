/**
 * The lines of a format-2 vault (docs/decisions/0018-operation-log.md §1): a comment line, then a
 * YAML sequence with one canonical JSON record per line, of six kinds. Three are signed entries
 * (`op`, `merge`, `checkpoint`), two are payloads an entry binds by hash (`value`, `keys`), and
 * `state` holds one secret's replayed state after a checkpoint. The JSON rules are format 1's
 * (store/codec.ts): `kind` first then sorted keys, re-serialising must give back the same bytes,
 * size caps, maps as objects, canonical base64, and every unknown field refused. Each action's
 * body is read by its own entry in BODIES, so a body carries exactly the fields its action may
 * change. Every failure is DAMAGED_VAULT naming the line; links between lines are replay's
 * (core/replay.ts).
 */
import {
  ACTIONS,
  type Action,
  type CheckpointEntry,
  type Entry,
  type KeysPayload,
  type LogEntry,
  type MemberKeys,
  type MergeEntry,
  type OpBodies,
  type OpEntry,
  type Payload,
  type SecretRef,
  type SignatureCheck,
  type ValuePayload,
  type VersionRef,
} from '../core/ops.js';
import type { CheckpointDigests, SecretSummary } from '../core/checkpoint.js';
import type { VersionState } from '../core/state.js';
import { isLabel, isPrintable, isSecretName, isTag, MAX_DESCRIPTION, MAX_LABELS, MAX_TAGS, MAX_VALUE_BYTES, MAX_VERSIONS } from '../core/names.js';
import { isPolicyName } from '../core/policy.js';
import { sha256Base64 } from '../crypto/digest.js';
import { fromBase64, isBase64Of } from '../crypto/encoding.js';
import { signEntry, verifyEntry } from '../crypto/sign.js';
import type { Identity } from '../core/ports.js';
import type { RotationSpec } from '../core/ops.js';
import {
  canonicalJson,
  damaged,
  Fields,
  readRotationSpec,
  ID,
  id,
  IDENTITY_ID,
  type Json,
  mapToJson,
  MAX_LINE_BYTES,
  memberName,
  parseCanonicalObject,
  printable,
  quote,
} from './codec.js';

/** The first line of every format-2 vault file. */
export { HEADER_LINE_V2 } from './format-header.js';

/** One secret's state as a compacted file keeps it, in the run its checkpoint closes. */
export type StateLine = SecretSummary & { readonly kind: 'state' };

/** Any line of a format-2 file but the header. */
export type Line = Entry | Payload | StateLine;

/** Whether a line is a signed entry (a node of the history). */
export function isEntry(line: Line): line is Entry {
  return line.kind === 'op' || line.kind === 'merge' || line.kind === 'checkpoint';
}

/** Caps. A line as a whole is capped by MAX_LINE_BYTES (1 MiB), as in format 1. */
const MAX_PARENTS = 1024;
const MAX_MEMBERS = 10_000;
/** A value's ciphertext: the largest value plus the AEAD tag, in base64. */
const MAX_CT_CHARS = Math.ceil(((MAX_VALUE_BYTES + 16) * 4) / 3) + 4;
/** crypto_box_seal of a 32-byte data key: 32 (ephemeral key) + 16 (tag) + 32 bytes. */
const SEALED_KEY_BYTES = 80;
const AUDIT_ANCHOR = /^[0-9a-f]{16}:\d{1,15}:[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Built-in handlers or a local handler's name (format 2 never stores a path). */
const HANDLER = /^(?:password|postgres|mysql|command:[a-z0-9][a-z0-9._-]{0,63})$/;

// ---- field readers beyond format 1's ----

/** Canonical base64 of exactly `bytes` bytes (a hash, a key, a signature, a nonce). */
function bytesField(f: Fields, key: string, bytes: number): string {
  const v = f.str(key, Math.ceil(bytes / 3) * 4);
  if (!isBase64Of(v, bytes)) throw f.fail(`field "${key}" is not ${bytes} bytes of canonical base64`);
  return v;
}

/** h(line): a SHA-256 in base64. */
function hashField(f: Fields, key: string): string {
  return bytesField(f, key, 32);
}

function isHash(v: string): boolean {
  return isBase64Of(v, 32);
}

function memberId(f: Fields, key: string): string {
  const v = f.str(key, 16);
  if (!IDENTITY_ID.test(v)) throw f.fail(`field "${key}" is not a member id`);
  return v;
}

function secretName(f: Fields, key: string): string {
  const v = f.str(key, 256);
  if (!isSecretName(v)) throw f.fail(`field "${key}" is not a secret name`);
  return v;
}

function description(f: Fields): string | undefined {
  const v = f.optStr('description', MAX_DESCRIPTION);
  if (v !== undefined && !isPrintable(v)) throw f.fail('field "description" contains control characters');
  return v;
}

function label(f: Fields, key: string): string {
  const v = f.str(key, 256);
  if (!isLabel(v)) throw f.fail(`field "${key}" is not a staging label`);
  return v;
}

function count(f: Fields, key: string, min: number, max: number): number {
  const v = f.int(key);
  if (v < min || v > max) throw f.fail(`field "${key}" must be ${min} to ${max}`);
  return v;
}

/** A nested object read as strictly as a line; `done` is called for it. */
function nested<T>(f: Fields, key: string, line: number, read: (g: Fields) => T): T {
  const raw = f.optObject(key);
  if (raw === undefined) throw f.fail(`field "${key}" is missing`);
  const g = new Fields(raw, line, `${key}.`);
  const out = read(g);
  g.done();
  return out;
}

function optNested<T>(f: Fields, key: string, line: number, read: (g: Fields) => T): T | undefined {
  return f.optObject(key) === undefined ? undefined : nested(f, key, line, read);
}

/** A list of objects, each read as strictly as a line. */
function objects<T>(f: Fields, key: string, max: number, line: number, read: (g: Fields) => T): T[] {
  const v = f.json(key);
  if (!Array.isArray(v) || v.length > max) throw f.fail(`field "${key}" is not a list of at most ${max}`);
  return v.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw f.fail(`field "${key}" holds something other than a map`);
    const g = new Fields(item as Record<string, unknown>, line, `${key}[${i}].`);
    const out = read(g);
    g.done();
    return out;
  });
}

/** A list of strings (labels or tag keys: up to 256 characters, `check` decides), sorted without repeats (one encoding per set). */
function sortedSet(f: Fields, key: string, max: number, check: (v: string) => boolean): readonly string[] {
  const v = f.strList(key, max, 256);
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as string;
    if (!check(x)) throw f.fail(`field "${key}" has an invalid entry`);
    if (i > 0 && !((v[i - 1] as string) < x)) throw f.fail(`field "${key}" is not sorted without repeats`);
  }
  return v;
}

/** `{key: value}` when the value is present, `{}` otherwise (exactOptionalPropertyTypes). */
function opt<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]: V });
}

function memberKeys(g: Fields): MemberKeys {
  return { id: memberId(g, 'id'), name: memberName(g), enc: bytesField(g, 'enc', 32), sign: bytesField(g, 'sign', 32) };
}

function roles(f: Fields): readonly string[] {
  const v = f.strList('roles', 1);
  if (v.length !== 1 || (v[0] !== 'admin' && v[0] !== 'member')) throw f.fail('field "roles" must be ["admin"] or ["member"]');
  return v;
}

function valueType(g: Fields): 'string' | 'binary' {
  const type = g.str('type', 8);
  if (type !== 'string' && type !== 'binary') throw g.fail('field "type" must be string or binary');
  return type;
}

function versionRef(g: Fields): VersionRef {
  return { version: id(g, 'version'), type: valueType(g), v: hashField(g, 'v'), k: hashField(g, 'k'), ...opt('created', g.optTime('created')) };
}

function secretRef(f: Fields): SecretRef {
  return { secret: id(f, 'secret'), name: secretName(f, 'name') };
}

function tags(f: Fields, key: string): ReadonlyMap<string, string> {
  return f.strMap(key, MAX_TAGS, isTag);
}

function policyName(f: Fields): string {
  const v = f.str('policy', 128);
  if (!isPolicyName(v)) throw f.fail('field "policy" is not a policy name');
  return v;
}

/** A policy document: any JSON map (its grammar is replay's to judge, with the state's). */
function policyDoc(f: Fields): unknown {
  const doc = f.json('doc');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw f.fail('field "doc" is not a map');
  return doc;
}

/** Rotation settings as format 1 reads them, but a handler is always a name, never a path. */
function rotationSpec(g: Fields, line: number): RotationSpec {
  const spec = readRotationSpec(g, line);
  if (!HANDLER.test(spec.handler)) throw g.fail('field "rotation.handler" is not a rotation handler name');
  return spec;
}

// ---- bodies: one reader per action ----

/** Reads the body of one action; the caller refuses any field the reader did not read. */
type BodyReader<A extends Action> = (f: Fields, line: number) => OpBodies[A];

/** Every action's body, keyed by action: the codec knows exactly these actions. */
const BODIES: { readonly [A in Action]: BodyReader<A> } = {
  CreateVault: (f, line) => {
    const vault = f.str('vault', 36);
    if (!UUID.test(vault)) throw f.fail('field "vault" is not a UUID');
    if (f.int('format') !== 2) throw f.fail('field "format" must be 2');
    const from = f.optStr('from', 44) === undefined ? undefined : hashField(f, 'from');
    return { vault, name: printable(f, 'name', 256), format: 2, creator: nested(f, 'creator', line, memberKeys), ...opt('from', from) };
  },
  AddMember: (f, line) => ({ member: nested(f, 'member', line, memberKeys), roles: roles(f) }),
  RemoveMember: (f) => ({ member: memberId(f, 'member') }),
  SetRole: (f) => ({ member: memberId(f, 'member'), roles: roles(f) }),
  PutPolicy: (f) => ({ policy: policyName(f), doc: policyDoc(f) }),
  DeletePolicy: (f) => ({ policy: policyName(f) }),
  AttachPolicy: (f) => ({ policy: policyName(f), member: memberId(f, 'member') }),
  DetachPolicy: (f) => ({ policy: policyName(f), member: memberId(f, 'member') }),
  PutResourcePolicy: (f) => ({ ...secretRef(f), doc: policyDoc(f) }),
  DeleteResourcePolicy: (f) => secretRef(f),
  CreateSecret: (f, line) => ({
    ...secretRef(f),
    ...opt('created', f.optTime('created')),
    ...opt('description', description(f)),
    ...opt('tags', f.optStrMap('tags', MAX_TAGS, isTag)),
    ...opt('value', optNested(f, 'value', line, versionRef)),
  }),
  PutSecretValue: (f, line) => ({
    ...secretRef(f),
    value: nested(f, 'value', line, versionRef),
    ...opt('stages', f.optStrList('stages', MAX_LABELS, 256) === undefined ? undefined : sortedSet(f, 'stages', MAX_LABELS, isLabel)),
  }),
  UpdateSecret: (f, line) => ({ ...secretRef(f), ...opt('description', description(f)), ...opt('value', optNested(f, 'value', line, versionRef)) }),
  TagResource: (f) => ({ ...secretRef(f), tags: tags(f, 'tags') }),
  UntagResource: (f) => ({ ...secretRef(f), keys: sortedSet(f, 'keys', MAX_TAGS, (k) => isTag(k, '')) }),
  UpdateSecretVersionStage: (f) => ({
    ...secretRef(f),
    stage: label(f, 'stage'),
    ...opt('version', f.optStr('version', 64) === undefined ? undefined : id(f, 'version')),
  }),
  DeleteSecret: (f) => ({ ...secretRef(f), days: count(f, 'days', 0, 30) }),
  RestoreSecret: (f) => secretRef(f),
  ConfirmSecret: (f) => secretRef(f),
  RotateSecret: (f, line) => ({
    ...secretRef(f),
    ...opt(
      'rotation',
      optNested(f, 'rotation', line, (g) => readRotationSpec(g, line)),
    ),
    ...opt('since', f.optTime('since')),
    ...opt('last', f.optTime('last')),
    ...opt('value', optNested(f, 'value', line, versionRef)),
    ...opt('finish', f.optStr('finish', 64) === undefined ? undefined : id(f, 'finish')),
  }),
  CancelRotateSecret: (f) => secretRef(f),
  Reseal: (f) => ({ ...secretRef(f), keys: f.strMap('keys', MAX_VERSIONS + MAX_LABELS, (k, v) => ID.test(k) && isHash(v)) }),
};

/** The one check of an op's name (replay takes entries this codec typed). */
function isAction(op: string): op is Action {
  return ACTIONS.has(op);
}

/** The action that introduced a version, in a `state` line. */
function action(g: Fields): string {
  const op = g.str('act', 64);
  if (!isAction(op)) throw g.fail(`field "act" is not an action`);
  return op;
}

// ---- lines ----

/** The fields every entry carries. */
function entryCommon(f: Fields): { by: string; seq: number; parents: readonly string[]; at: string; audit?: string; sig: string } {
  const audit = f.optStr('audit', 128);
  if (audit !== undefined && !AUDIT_ANCHOR.test(audit)) throw f.fail('field "audit" is not an audit anchor');
  return {
    by: memberId(f, 'by'),
    seq: count(f, 'seq', 1, Number.MAX_SAFE_INTEGER),
    // Sorted without repeats is a link rule: replay checks it with the others.
    parents: f.strList('parents', MAX_PARENTS).map((p) => {
      if (!isHash(p)) throw f.fail('field "parents" holds something other than a line hash');
      return p;
    }),
    at: f.time('at'),
    ...opt('audit', audit),
    sig: bytesField(f, 'sig', 64),
  };
}

function opLine(f: Fields, line: number): OpEntry {
  const op = f.str('op', 64);
  if (!isAction(op)) throw damaged(line, `unknown op ${quote(op)}`);
  const raw = f.optObject('body');
  if (raw === undefined) throw f.fail('field "body" is missing');
  const b = new Fields(raw, line, 'body.');
  const body = BODIES[op](b, line);
  b.done();
  const common = entryCommon(f);
  // A date an op carries (a restored secret's) is never after the op itself.
  const { created, value, since, last } = body as { created?: string; value?: { created?: string }; since?: string; last?: string };
  if ([created, value?.created, since, last].some((d) => d !== undefined && d > common.at)) throw damaged(line, "the body holds a date after the entry's time");
  return { kind: 'op', op, body, ...common } as OpEntry;
}

function checkpointLine(f: Fields): CheckpointEntry {
  const from = f.optStr('from', 44) === undefined ? undefined : hashField(f, 'from');
  return {
    kind: 'checkpoint',
    ...entryCommon(f),
    state: hashField(f, 'state'),
    secrets: count(f, 'secrets', 0, Number.MAX_SAFE_INTEGER),
    seqs: f.intMap('seqs'),
    gov: hashField(f, 'gov'),
    anchors: f.strMap('anchors', MAX_MEMBERS, (k, v) => IDENTITY_ID.test(k) && AUDIT_ANCHOR.test(v)),
    ...opt('from', from),
  };
}

function versionState(g: Fields): VersionState {
  return {
    id: id(g, 'id'),
    at: g.time('at'),
    by: memberId(g, 'by'),
    type: valueType(g),
    v: hashField(g, 'v'),
    k: hashField(g, 'k'),
    ...opt('entry', g.optStr('entry', 44) === undefined ? undefined : hashField(g, 'entry')),
    act: action(g),
    ...opt('aad', formatOneAad(g)),
  };
}

/** `"aad":1` marks a version migrated from format 1, whose ciphertext keeps format 1's AAD. */
function formatOneAad(g: Fields): 1 | undefined {
  const v = g.optInt('aad');
  if (v !== undefined && v !== 1) throw g.fail('field "aad" must be 1');
  return v;
}

function stateLine(f: Fields, line: number): StateLine {
  const deleted = optNested(f, 'deleted', line, (g) => ({ at: g.time('at'), purge: g.time('purge'), entry: hashField(g, 'entry') }));
  return {
    kind: 'state',
    id: id(f, 'id'),
    name: secretName(f, 'name'),
    ...opt('description', description(f)),
    tags: tags(f, 'tags'),
    stages: f.strMap('stages', MAX_LABELS, (k, v) => isLabel(k) && ID.test(v)),
    // A version that is its secret's only holder of a label survives pruning, so a few more than MAX_VERSIONS.
    versions: objects(f, 'versions', MAX_VERSIONS + MAX_LABELS, line, versionState),
    created: f.time('created'),
    ...opt('deleted', deleted),
    ...opt(
      'rotation',
      optNested(f, 'rotation', line, (g) => {
        const spec = rotationSpec(g, line);
        const last = g.optStr('last', 40) === undefined ? undefined : g.time('last');
        return { ...spec, since: g.time('since'), by: memberId(g, 'by'), ...opt('last', last) };
      }),
    ),
    setBy: memberId(f, 'setBy'),
    ...opt('exposed', exposedTo(f)),
  };
}

/** The removed members a secret was exposed to: sorted, no repeats, absent when none. */
function exposedTo(f: Fields): readonly string[] | undefined {
  if (f.optStrList('exposed', MAX_MEMBERS) === undefined) return undefined;
  const v = sortedSet(f, 'exposed', MAX_MEMBERS, (id) => IDENTITY_ID.test(id));
  if (v.length === 0) throw f.fail('field "exposed" is empty (leave it out)');
  return v;
}

function toLine(obj: Record<string, unknown>, line: number): Line {
  const f = new Fields(obj, line);
  const kind = f.str('kind', 16);
  let out: Line;
  switch (kind) {
    case 'op':
      out = opLine(f, line);
      break;
    case 'merge':
      out = { kind, ...entryCommon(f) } satisfies MergeEntry;
      break;
    case 'checkpoint':
      out = checkpointLine(f);
      break;
    case 'value':
      out = { kind, n: bytesField(f, 'n', 24), ct: f.str('ct', MAX_CT_CHARS) } satisfies ValuePayload;
      if (fromBase64(out.ct) === undefined) throw f.fail('field "ct" is not canonical base64');
      break;
    case 'keys': {
      const keys = f.strMap('keys', MAX_MEMBERS, (k, v) => IDENTITY_ID.test(k) && isBase64Of(v, SEALED_KEY_BYTES));
      if (keys.size === 0) throw f.fail('field "keys" seals to no one');
      out = { kind, keys } satisfies KeysPayload;
      break;
    }
    case 'state':
      out = stateLine(f, line);
      break;
    default:
      throw damaged(line, `unknown line kind ${quote(kind)}`);
  }
  f.done();
  return out;
}

/**
 * Parses one line's JSON text (the line without `- ` and its newline) strictly: canonical form,
 * caps, exact fields. Throws DAMAGED_VAULT naming `lineNo`, and nothing else, for any input.
 */
export function parseLine(json: string, lineNo: number): Line {
  if (json.length > MAX_LINE_BYTES) throw damaged(lineNo, 'line is larger than the 1 MiB limit');
  return toLine(parseCanonicalObject(json, lineNo), lineNo);
}

/** A domain value as JSON: maps as objects, absent optional fields left out. */
function toJson(value: unknown): Json {
  if (value instanceof Map) {
    const out = new Map<string, Json>();
    for (const [k, v] of value as Map<string, unknown>) out.set(k, toJson(v));
    return mapToJson(out);
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return value as Json;
}

/**
 * A line's JSON text (without `- ` and the newline). Refuses, as DAMAGED_VAULT, a value the
 * codec would not read back exactly: nothing is written that a reader would refuse.
 */
export function encodeLine(line: Line): string {
  const json = canonicalJson(toJson(line));
  parseLine(json, 0);
  return json;
}

/** h(line): SHA-256 of the line's JSON bytes (without `- ` and the newline), 44 base64 characters. */
export function lineHash(json: string | Uint8Array): string {
  return sha256Base64(json);
}

/** The canonical text an entry's signature covers: the entry without `sig`. */
export function signedText(entry: Entry): string {
  const { sig: _sig, ...unsigned } = entry;
  return canonicalJson(toJson(unsigned));
}

/** An entry before it is signed (each kind and action keeps its own fields). */
export type UnsignedEntry<E extends Entry = Entry> = E extends Entry ? Omit<E, 'sig'> : never;

/** Signs an unsigned entry for the vault `vaultHash` (G; empty for the genesis) and returns it with `sig`. */
export function signedEntry<E extends Entry>(identity: Identity, vaultHash: string, unsigned: UnsignedEntry<E>): E {
  const entry = { ...unsigned, sig: '' } as unknown as E;
  const sig = Buffer.from(signEntry(identity, vaultHash, signedText(entry))).toString('base64');
  return { ...entry, sig };
}

/** Replay's signature check: `sig` over frame("secrets-entry-v2", G, signedText(entry)), libsodium-exact. */
export const entrySignatureValid: SignatureCheck = (item: LogEntry, signKey: string, vaultHash: string): boolean => {
  const key = fromBase64(signKey);
  const sig = fromBase64(item.entry.sig);
  return key !== undefined && sig !== undefined && verifyEntry(key, vaultHash, signedText(item.entry), sig);
};

/**
 * A checkpoint's digests: `state` is the SHA-256 of its `state` lines as the file holds them
 * (`- <line>\n` each, in order); `gov` the SHA-256 of the governance entries' hashes, each
 * followed by a newline, in replay order.
 */
export const CHECKPOINT_DIGESTS: CheckpointDigests = {
  // The lines were read by this codec (or are about to be written through encodeLine), so their
  // canonical text is what the file holds: no read-back check here, it would double the cost.
  state: (secrets) => sha256Base64(secrets.map((s) => `- ${canonicalJson(toJson({ kind: 'state', ...s }))}\n`).join('')),
  gov: (hashes) => sha256Base64(hashes.map((h) => `${h}\n`).join('')),
};
