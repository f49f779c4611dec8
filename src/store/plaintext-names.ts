/**
 * The plaintext names in a vault file, for shell completion: a line scan that needs no key, no
 * signature check and no JSON parse of the 10,000 secret records a large vault holds. Nothing
 * here is trusted: a name is offered only if it is a valid name of its kind, and a file that
 * cannot be read has no names. Every other reader goes through the strict codec.
 */
import { readFileSync } from 'node:fs';
import { isMemberName, isSecretName } from '../core/names.js';
import { isPolicyName } from '../core/policy.js';

/** The record kinds that have names worth completing. */
export type NamedKind = 'secret' | 'member' | 'policy';

// Canonical JSON puts "kind" first and sorts the other keys. The keys that sort before "name" in
// a secret record (act, by, changed, created, ctr, deleted, description, id) are strings and
// numbers, never objects, and a JSON string cannot hold `,"` (its quotes are escaped). So the
// first `,"name":"` of a secret line is its own name, and `,"deleted":` before it marks a
// secret scheduled for deletion. Members and policies are few: those lines are parsed whole.
const NAME_KEY = ',"name":"';
const DELETED_KEY = ',"deleted":';

function secretName(line: string, from: number): string | undefined {
  const key = line.indexOf(NAME_KEY, from);
  if (key === -1) return undefined;
  if (line.slice(from, key).includes(DELETED_KEY)) return undefined;
  const start = key + NAME_KEY.length;
  const end = line.indexOf('"', start);
  return end === -1 ? undefined : line.slice(start, end);
}

function recordName(line: string, kind: 'member' | 'policy'): string | undefined {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null) return undefined;
  const { name, removed } = record as { name?: unknown; removed?: unknown };
  // A removed member stays in the file (its history is signed) but is no longer a member.
  if (kind === 'member' && removed !== undefined) return undefined;
  return typeof name === 'string' ? name : undefined;
}

const VALID: Record<NamedKind, (name: string) => boolean> = { secret: isSecretName, member: isMemberName, policy: isPolicyName };

/** The names of the live records of `kind` in the text of a vault file, sorted and unique. */
export function scanPlaintextNames(text: string, kind: NamedKind): string[] {
  const marker = `\n- {"kind":"${kind}",`;
  const names = new Set<string>();
  let at = text.indexOf(marker);
  while (at !== -1) {
    const lineStart = at + 3; // after "\n- "
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd);
    const name = kind === 'secret' ? secretName(line, marker.length - 3) : recordName(line, kind);
    if (name !== undefined && VALID[kind](name)) names.add(name);
    at = text.indexOf(marker, lineEnd);
  }
  return [...names].sort();
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
