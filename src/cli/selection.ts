/**
 * The selection flags shared by `exec` and `env`: references files (`--env-file`, default
 * `./secrets.env`), `--secret NAME[=VAR]` and `--prefix PREFIX`, turned into the sources the
 * release use case resolves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDotenv } from '../core/dotenv.js';
import { SecretsError } from '../core/errors.js';
import { isSecretName } from '../core/names.js';
import { assertEnvName, envName, isEnvName, isReference, parseReference, type SecretReference } from '../core/references.js';
import type { Source } from '../core/use-cases/release.js';

/** The flags as commander gives them. */
export interface SelectionFlags {
  readonly envFile?: string[];
  readonly secret?: string[];
  readonly prefix?: string[];
}

/** The default references file, read when no selection flag is given. */
export const DEFAULT_ENV_FILE = 'secrets.env';

/** Repeatable option collector for commander. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SecretsError(code === 'ENOENT' ? 'NOT_FOUND' : 'STORAGE', `cannot read ${path}: ${code}`);
  }
}

/** The sources of one references file: `VAR=secret://…` references and plain values. */
export function fileSources(path: string, text: string): Source[] {
  return parseDotenv(text, path).map((e) => {
    const origin = `${path}:${e.line}`;
    if (!isReference(e.value)) return { kind: 'plain', variable: e.key, value: e.value, origin };
    try {
      return { kind: 'reference', variable: e.key, ref: parseReference(e.value), origin };
    } catch (err) {
      if (err instanceof SecretsError) throw new SecretsError(err.code, `${origin}: ${err.message}`, err.hint);
      throw err;
    }
  });
}

/**
 * `--secret NAME[=VAR]`: NAME is a secret name or a `secret://` reference. A secret name may
 * itself contain `=`, so the text after the last `=` names a variable only when it is a valid
 * variable name and what is before it is a valid name or reference.
 */
export function secretSource(arg: string): Source {
  const eq = arg.lastIndexOf('=');
  let target = arg;
  let variable: string | undefined;
  if (eq > 0) {
    const head = arg.slice(0, eq);
    const tail = arg.slice(eq + 1);
    if (isEnvName(tail) && (isSecretName(head) || isReference(head))) {
      target = head;
      variable = tail;
    }
  }
  const ref: SecretReference = isReference(target) ? parseReference(target) : { name: target };
  if (!isSecretName(ref.name)) throw new SecretsError('INVALID_NAME', `--secret ${JSON.stringify(arg.slice(0, 300))}: not a valid secret name or reference`);
  const base = variable ?? envName(ref.field !== undefined ? `${ref.name}_${ref.field}` : ref.name);
  assertEnvName(base, `--secret ${arg}`);
  return { kind: 'secret', base, named: variable !== undefined, ref, origin: `--secret ${arg}` };
}

/** All sources of a command line; with no selection flag, ./secrets.env (required to exist). */
export function selectionSources(flags: SelectionFlags, cwd: string): Source[] {
  const files = flags.envFile ?? [];
  const secrets = flags.secret ?? [];
  const prefixes = flags.prefix ?? [];
  if (files.length === 0 && secrets.length === 0 && prefixes.length === 0) {
    const path = join(cwd, DEFAULT_ENV_FILE);
    if (!existsSync(path)) {
      throw new SecretsError(
        'USAGE',
        `nothing selected: no --env-file, --secret or --prefix, and no ${DEFAULT_ENV_FILE} here`,
        `create ${DEFAULT_ENV_FILE} (lines like DATABASE_URL=secret://prod/db#url), or pass --secret NAME`,
      );
    }
    return fileSources(DEFAULT_ENV_FILE, readText(path));
  }
  const out: Source[] = [];
  for (const f of files) out.push(...fileSources(f, readText(f === '-' ? '/dev/stdin' : f)));
  for (const s of secrets) out.push(secretSource(s));
  for (const p of prefixes) {
    if (p === '' || !/^[A-Za-z0-9/_+=.@-]+$/.test(p)) throw new SecretsError('USAGE', `--prefix ${JSON.stringify(p)} is not a name prefix`);
    out.push({ kind: 'prefix', prefix: p, origin: `--prefix ${p}` });
  }
  return out;
}
