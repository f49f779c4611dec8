/**
 * The plaintext names in a vault file, for shell completion: a line scan that needs no key, no
 * signature check and no JSON parse of the 10,000 secret records a large vault holds (format 1)
 * or of the ops that name no secret, member or policy (format 2). Nothing
 * here is trusted: a name is offered only if it is made of what names of its kind are made of,
 * and a file that cannot be read has no names. Every other reader goes through the strict codec.
 */
import { readFileSync } from 'node:fs';
import { isMemberName } from '../core/names.js';
import { isPolicyName } from '../core/policy.js';
import { HEADER_LINE_V2 } from './format-header.js';

/** The record kinds that have names worth completing. */
export type NamedKind = 'secret' | 'member' | 'policy';

// Canonical JSON puts "kind" first and sorts the other keys. The keys that sort before "name" in
// a secret record (act, by, changed, created, ctr, deleted, description, id) are strings and
// numbers, never objects, and a JSON string cannot hold `,"` (its quotes are escaped). So the
// first `,"name":"` of a secret line is its own name, and `,"deleted":` before it marks a
// secret scheduled for deletion. Members and policies are few: those lines are parsed whole.
const NAME_KEY = ',"name":"';
const DELETED_KEY = ',"deleted":';
// The characters of a secret name (core/names.ts). The full isSecretName check would cost a
// third of the scan on 10,000 names; the characters are what keeps a damaged file from putting
// anything else (a newline, an escape) into a shell's completions.
const SECRET_NAME_CHARS = /^[A-Za-z0-9/_+=.@-]{1,256}$/;

function secretNames(text: string): string[] {
  const marker = '\n- {"kind":"secret",';
  const names: string[] = [];
  let at = text.indexOf(marker);
  while (at !== -1) {
    const from = at + marker.length;
    let lineEnd = text.indexOf('\n', from);
    if (lineEnd === -1) lineEnd = text.length;
    const key = text.indexOf(NAME_KEY, from);
    const start = key + NAME_KEY.length;
    const end = key === -1 ? -1 : text.indexOf('"', start);
    if (end !== -1 && end < lineEnd && !text.slice(from, key).includes(DELETED_KEY)) {
      const name = text.slice(start, end);
      if (SECRET_NAME_CHARS.test(name)) names.push(name);
    }
    at = text.indexOf(marker, lineEnd);
  }
  return names;
}

function recordNames(text: string, kind: 'member' | 'policy'): string[] {
  const marker = `\n- {"kind":"${kind}",`;
  const valid = kind === 'member' ? isMemberName : isPolicyName;
  const names: string[] = [];
  let at = text.indexOf(marker);
  while (at !== -1) {
    let lineEnd = text.indexOf('\n', at + 1);
    if (lineEnd === -1) lineEnd = text.length;
    let record: unknown;
    try {
      record = JSON.parse(text.slice(at + 3, lineEnd));
    } catch {
      record = undefined;
    }
    const { name, removed } = (typeof record === 'object' && record !== null ? record : {}) as { name?: unknown; removed?: unknown };
    // A removed member stays in the file (its history is signed) but is no longer a member.
    if (typeof name === 'string' && valid(name) && !(kind === 'member' && removed !== undefined)) names.push(name);
    at = text.indexOf(marker, lineEnd);
  }
  return names;
}

/** The ops of format 2 that make or unmake a name of each kind. */
const LOG_OPS: Record<NamedKind, readonly string[]> = {
  secret: ['CreateSecret', 'DeleteSecret', 'RestoreSecret'],
  member: ['CreateVault', 'AddMember', 'RemoveMember'],
  policy: ['PutPolicy', 'DeletePolicy'],
};

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null ? (v as Json) : {});

/**
 * Format 2: the names the log's ops (and a compacted file's `state` lines) leave, in file
 * order. Only a line that holds one of the ops of `kind` is parsed; a name is id-keyed, so a
 * deletion or removal takes it away and a restore gives it back.
 */
function logNames(text: string, kind: NamedKind): string[] {
  const live = new Map<string, string>();
  const ops = LOG_OPS[kind].map((op) => `"op":"${op}"`);
  for (const line of text.split('\n')) {
    const state = kind === 'secret' && line.startsWith('- {"kind":"state",');
    if (!state && !(line.startsWith('- {"kind":"op",') && ops.some((op) => line.includes(op)))) continue;
    let r: Json;
    try {
      r = obj(JSON.parse(line.slice(2)));
    } catch {
      continue;
    }
    const b = obj(r['body']);
    const set = (id: unknown, name: unknown): void => {
      if (typeof id === 'string' && typeof name === 'string') live.set(id, name);
    };
    // Only a string is an id: String() of a hostile object ({"toString":1}) throws.
    const drop = (id: unknown): void => {
      if (typeof id === 'string') live.delete(id);
    };
    if (state) {
      if (r['deleted'] === undefined) set(r['id'], r['name']);
      continue;
    }
    switch (r['op']) {
      case 'CreateSecret':
      case 'RestoreSecret':
        set(b['secret'], b['name']);
        break;
      case 'CreateVault':
        set(obj(b['creator'])['id'], obj(b['creator'])['name']);
        break;
      case 'AddMember':
        set(obj(b['member'])['id'], obj(b['member'])['name']);
        break;
      case 'PutPolicy':
        set(b['policy'], b['policy']);
        break;
      case 'DeleteSecret':
        drop(b['secret']);
        break;
      case 'RemoveMember':
        drop(b['member']);
        break;
      case 'DeletePolicy':
        drop(b['policy']);
        break;
    }
  }
  const valid = kind === 'secret' ? (n: string) => SECRET_NAME_CHARS.test(n) : kind === 'member' ? isMemberName : isPolicyName;
  return [...live.values()].filter(valid);
}

/** The names of the live records of `kind` in the text of a vault file (either format), sorted and unique. */
export function scanPlaintextNames(text: string, kind: NamedKind): string[] {
  const names = text.startsWith(HEADER_LINE_V2) ? logNames(text, kind) : kind === 'secret' ? secretNames(text) : recordNames(text, kind);
  return [...new Set(names)].sort();
}

/** The names of the live records of `kind` in the vault file at `path`; none if it cannot be read. */
export function readPlaintextNames(path: string, kind: NamedKind): string[] {
  let text: string;
  try {
    // Names are ASCII; latin1 decodes faster than UTF-8 and cannot turn other bytes into `"` or a newline.
    text = readFileSync(path, 'latin1');
  } catch {
    return [];
  }
  return scanPlaintextNames(text, kind);
}
