/**
 * Names, labels, tags and limits of the AWS Secrets Manager model (docs/decisions/0005-aws-semantics-kept.md), each
 * with one guard that throws a usage error naming the rule that was broken.
 */
import { SecretsError } from './errors.js';

/** Values are at most 64 KiB, as in AWS Secrets Manager. */
export const MAX_VALUE_BYTES = 64 * 1024;
/** At most 50 tags per secret. */
export const MAX_TAGS = 50;
/** Versions kept per secret; older unlabeled versions are pruned. */
export const MAX_VERSIONS = 100;
/** Description length (AWS: 2048). */
export const MAX_DESCRIPTION = 2048;
/** Staging labels attached to one secret at most (AWS: 20). */
export const MAX_LABELS = 20;

const NAME_CHARS = /^[A-Za-z0-9/_+=.@-]{1,256}$/;

/** True for a valid secret name (see assertSecretName). */
export function isSecretName(name: string): boolean {
  return NAME_CHARS.test(name) && !name.split('/').some((s) => s === '' || s === '..' || s === '.');
}

/** Throws unless `name` is a valid secret name: 1–256 of A-Za-z0-9/_+=.@- with no empty or `..` segments. */
export function assertSecretName(name: string): void {
  if (!NAME_CHARS.test(name)) {
    throw new SecretsError(
      'INVALID_NAME',
      `invalid secret name ${JSON.stringify(name.slice(0, 300))}`,
      'names are 1-256 characters of A-Z a-z 0-9 / _ + = . @ -',
    );
  }
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '..' || s === '.')) {
    throw new SecretsError(
      'INVALID_NAME',
      `invalid secret name ${JSON.stringify(name)}: empty, "." or ".." path segment`,
      'use names like prod/db/password, without leading, trailing or doubled "/"',
    );
  }
}

const LABEL = /^[A-Za-z0-9_.@+=-]{1,256}$/;

/** Throws unless `label` is a valid staging label. */
export function assertLabel(label: string): void {
  if (!LABEL.test(label)) {
    throw new SecretsError('USAGE', `invalid staging label ${JSON.stringify(label)}`, 'labels are 1-256 of A-Z a-z 0-9 _ . @ + = -');
  }
}

const TOKEN = /^[A-Za-z0-9-]{32,64}$/;

/** Throws unless `token` is a valid client request token (AWS: 32–64 characters). */
export function assertClientRequestToken(token: string): void {
  if (!TOKEN.test(token)) {
    throw new SecretsError('USAGE', 'invalid --client-request-token', 'use 32-64 characters of A-Z a-z 0-9 -, for example the output of `uuidgen`');
  }
}

const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** True when key and value are valid tag parts. */
export function isTag(key: string, value: string): boolean {
  return TAG_KEY.test(key) && !key.startsWith('aws:') && TAG_VALUE.test(value);
}

/** True for a valid staging label. */
export function isLabel(label: string): boolean {
  return LABEL.test(label);
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** True for free text without control characters (descriptions, member and vault names). */
export function isPrintable(text: string): boolean {
  return !CONTROL.test(text);
}

/** Throws unless key and value are valid tag parts (AWS tag rules). */
export function assertTag(key: string, value: string): void {
  if (!TAG_KEY.test(key) || key.startsWith('aws:')) {
    throw new SecretsError('USAGE', `invalid tag key ${JSON.stringify(key)}`, 'tag keys are 1-128 letters, digits, spaces and _ . : / = + - @');
  }
  if (!TAG_VALUE.test(value)) {
    throw new SecretsError('USAGE', `invalid value for tag ${JSON.stringify(key)}`, 'tag values are 0-256 letters, digits, spaces and _ . : / = + - @');
  }
}

/** Throws unless the description fits. */
export function assertDescription(text: string): void {
  if (text.length > MAX_DESCRIPTION) {
    throw new SecretsError('LIMIT_EXCEEDED', `description is ${text.length} characters; the limit is ${MAX_DESCRIPTION}`);
  }
  if (!isPrintable(text)) {
    throw new SecretsError('USAGE', 'the description contains control characters (newlines, escapes)', 'use one line of plain text');
  }
}

/** Parses `KEY=VALUE` (the first `=` splits). */
export function parseTagAssignment(text: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new SecretsError('USAGE', `tag ${JSON.stringify(text)} is not KEY=VALUE`, 'write tags as --tag env=prod');
  const key = text.slice(0, at);
  const value = text.slice(at + 1);
  assertTag(key, value);
  return [key, value];
}

const MEMBER_NAME = /^[A-Za-z0-9._@+-]{1,64}$/;

/** True for a valid member name: 1–64 of A-Za-z0-9 . _ @ + - (policies match names, so no spaces or wildcards). */
export function isMemberName(name: string): boolean {
  return MEMBER_NAME.test(name);
}

/** Throws unless `name` is a valid member name. */
export function assertMemberName(name: string, flag = 'member name'): void {
  if (!isMemberName(name)) {
    throw new SecretsError(
      'INVALID_NAME',
      `invalid ${flag} ${JSON.stringify(name.slice(0, 100))}`,
      'member names are 1-64 characters of A-Z a-z 0-9 . _ @ + -',
    );
  }
}

/** Member name made from a user name: invalid characters become `-`. */
export function toMemberName(userName: string): string {
  const cleaned = userName.replace(/[^A-Za-z0-9._@+-]/g, '-').slice(0, 64);
  return cleaned === '' ? 'me' : cleaned;
}
