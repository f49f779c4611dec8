/**
 * Secret references (`secret://NAME[#FIELD][?stage=LABEL|version=ID]`) and the names of the
 * environment variables secrets become (docs/programs.md).
 */
import { SecretsError } from './errors.js';
import { isSecretName } from './names.js';

/** A parsed reference. */
export interface SecretReference {
  readonly name: string;
  readonly field?: string;
  readonly versionStage?: string;
  readonly versionId?: string;
}

export const REFERENCE_SCHEME = 'secret://';

/** True when `text` is written as a reference (it may still be invalid). */
export function isReference(text: string): boolean {
  return text.startsWith(REFERENCE_SCHEME);
}

/**
 * Parses `secret://NAME[#FIELD][?stage=LABEL|version=ID]` (the query may also come before the
 * field). Throws USAGE naming what is wrong.
 */
export function parseReference(text: string): SecretReference {
  const bad = (why: string): SecretsError =>
    new SecretsError(
      'USAGE',
      `invalid secret reference ${JSON.stringify(text.slice(0, 300))}: ${why}`,
      'write secret://NAME, secret://NAME#FIELD, secret://NAME?stage=LABEL or secret://NAME?version=ID',
    );
  if (!isReference(text)) throw bad('it does not start with secret://');
  let rest = text.slice(REFERENCE_SCHEME.length);
  let field: string | undefined;
  let query: string | undefined;
  // NAME then #FIELD and ?QUERY in either order; a field may not contain '?'.
  const hash = rest.indexOf('#');
  const q = rest.indexOf('?');
  if (q >= 0 && (hash < 0 || q < hash)) {
    query = hash >= 0 ? rest.slice(q + 1, hash) : rest.slice(q + 1);
    field = hash >= 0 ? rest.slice(hash + 1) : undefined;
    rest = rest.slice(0, q);
  } else if (hash >= 0) {
    const after = rest.slice(hash + 1);
    const q2 = after.indexOf('?');
    field = q2 >= 0 ? after.slice(0, q2) : after;
    query = q2 >= 0 ? after.slice(q2 + 1) : undefined;
    rest = rest.slice(0, hash);
  }
  if (!isSecretName(rest)) throw bad('the name is not a valid secret name');
  if (field !== undefined && field === '') throw bad('the #FIELD is empty');
  let versionStage: string | undefined;
  let versionId: string | undefined;
  if (query !== undefined) {
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
      if (value === '') throw bad(`?${key} needs a value`);
      if (key === 'stage') versionStage = value;
      else if (key === 'version') versionId = value;
      else throw bad(`unknown parameter ${JSON.stringify(key)} (use stage or version)`);
    }
    if (versionStage !== undefined && versionId !== undefined) throw bad('use ?stage or ?version, not both');
  }
  return {
    name: rest,
    ...(field !== undefined ? { field } : {}),
    ...(versionStage !== undefined ? { versionStage } : {}),
    ...(versionId !== undefined ? { versionId } : {}),
  };
}

/** The reference written back as text (canonical order: NAME#FIELD?query). */
export function formatReference(ref: SecretReference): string {
  const query = ref.versionStage !== undefined ? `?stage=${ref.versionStage}` : ref.versionId !== undefined ? `?version=${ref.versionId}` : '';
  return `${REFERENCE_SCHEME}${ref.name}${ref.field !== undefined ? `#${ref.field}` : ''}${query}`;
}

/** An environment variable name for a secret name or a JSON key: upper-cased, anything outside A-Z0-9_ becomes `_`. */
export function envName(text: string): string {
  const name = text.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  // A variable cannot start with a digit in any shell.
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True for a name every shell accepts as a variable. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name) && name.length <= 255;
}

/** Throws USAGE unless `name` is a portable environment variable name. */
export function assertEnvName(name: string, where: string): void {
  if (!isEnvName(name)) {
    throw new SecretsError(
      'USAGE',
      `${where}: ${JSON.stringify(name.slice(0, 100))} is not a valid environment variable name`,
      'use letters, digits and _, not starting with a digit',
    );
  }
}
