/**
 * Reading a policy document from a file (YAML or JSON; JSON is YAML) with the position of every
 * node, so that grammar errors from core/policy.ts can name a line and column. The `yaml`
 * package is imported here only, and only by the policy commands.
 */
import { readFileSync, statSync } from 'node:fs';
import { SecretsError } from '../core/errors.js';
import type { PolicyIssue } from '../core/policy.js';
import type { Io } from './io.js';
import { issueMessage } from './policy-issues.js';

/** Policies are small; anything bigger is a mistake (or an attack on the parser). */
const MAX_POLICY_BYTES = 256 * 1024;

/** A parsed policy file. */
export interface PolicyFile {
  /** The file name for messages (`-` is stdin). */
  readonly name: string;
  /** The document as plain JSON values, or undefined when the YAML itself is broken. */
  readonly doc: unknown;
  /** YAML syntax problems, already positioned. */
  readonly syntax: readonly string[];
  /** Line and column (1-based) of the node at a path, or of its nearest ancestor. */
  readonly locate: (path: readonly (string | number)[]) => { line: number; col: number } | undefined;
  /** Formats a grammar issue as `FILE:LINE:COL: level: message`. */
  readonly describe: (issue: PolicyIssue) => string;
}

async function readText(path: string, io: Io): Promise<string> {
  if (path === '-') {
    if (io.stdinIsTTY) throw new SecretsError('USAGE', 'reading a policy from stdin, but stdin is a terminal', 'pipe the policy in, or pass -f FILE');
    const bytes = await io.readStdin();
    if (bytes.length > MAX_POLICY_BYTES) throw new SecretsError('LIMIT_EXCEEDED', 'the policy is larger than 256 KiB');
    return new TextDecoder().decode(bytes);
  }
  try {
    if (statSync(path).size > MAX_POLICY_BYTES) throw new SecretsError('LIMIT_EXCEEDED', `${path} is larger than 256 KiB; a policy is a small document`);
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SecretsError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read policy file ${path}: ${code}`);
  }
}

/** Reads and parses a policy file; never throws for bad content (see `syntax`). */
export async function readPolicyFile(path: string, io: Io): Promise<PolicyFile> {
  const text = await readText(path, io);
  const { LineCounter, parseDocument } = await import('yaml');
  const lines = new LineCounter();
  // No custom tags, no merge keys; aliases are refused below (no billion-laughs documents).
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: false, schema: 'core' });
  const name = path === '-' ? '(stdin)' : path;
  const at = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `${name}:${line}:${col}`;
  };
  const syntax = [...doc.errors, ...doc.warnings].map((e) => `${at(e.pos[0])}: error: YAML: ${e.message.split('\n')[0] ?? ''}`);
  let value: unknown;
  if (doc.errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 0 });
    } catch (err) {
      syntax.push(
        `${name}: error: YAML: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'cannot read the document'} (anchors and aliases are not allowed)`,
      );
    }
  }
  const locate = (path: readonly (string | number)[]): { line: number; col: number } | undefined => {
    for (let p = [...path]; ; p.pop()) {
      const node = p.length === 0 ? doc.contents : doc.getIn(p, true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) return lines.linePos(range[0]);
      if (p.length === 0) return undefined;
    }
  };
  return {
    name,
    doc: value,
    syntax,
    locate,
    describe: (issue) => {
      const pos = locate(issue.path);
      return `${pos ? `${name}:${pos.line}:${pos.col}` : name}: ${issue.level}: ${issueMessage(issue)}`;
    },
  };
}

/** The document of a policy file, or USAGE naming each YAML problem. */
export function policyDocument(file: PolicyFile): unknown {
  if (file.syntax.length > 0) {
    throw new SecretsError(
      'USAGE',
      `${file.name} is not valid YAML or JSON: ${file.syntax.join('; ')}`,
      'fix the file; `secrets policy validate -f FILE` shows every problem',
    );
  }
  return file.doc;
}
