/**
 * The AWS side of `secrets serve`: ARNs, staging label names, dates, input checks and errors in
 * the shapes of AWS Secrets Manager's JSON protocol, and the translation of this project's
 * errors into AWS's (its exception names, HTTP statuses and message texts).
 */
import { createHash } from 'node:crypto';
import type { SecretsError } from '../core/errors.js';
import { CURRENT, PENDING, PREVIOUS } from '../core/versions.js';

/** An error as AWS answers it: `{"__type": type, "message": message}` with `status`. */
export class AwsError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = 'AwsError';
    this.type = type;
    this.status = status;
  }
}

/** AWS's limit on a SecretString or SecretBinary (bytes). */
export const MAX_AWS_VALUE_BYTES = 65_536;

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The six characters AWS appends to a secret's name in its ARN, derived from the vault and the
 * name: the same on every request and every machine.
 */
export function arnSuffix(vaultId: string, name: string): string {
  const digest = createHash('sha256').update(`secrets-serve-v1\0arn\0${vaultId}\0${name}`).digest();
  let out = '';
  for (let i = 0; i < 6; i++) out += SUFFIX_ALPHABET[(digest[i] as number) % SUFFIX_ALPHABET.length];
  return out;
}

/** Where a request's ARNs live: its signing region, and the vault and its account. */
export interface ArnScope {
  readonly region: string;
  readonly accountId: string;
  readonly vaultId: string;
}

/** `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`. */
export function secretArn(scope: ArnScope, name: string): string {
  return `arn:aws:secretsmanager:${scope.region}:${scope.accountId}:secret:${name}-${arnSuffix(scope.vaultId, name)}`;
}

const ARN = /^arn:aws:secretsmanager:([a-z0-9-]*):(\d{12}):secret:(.+)$/;

/**
 * The secret name a SecretId means: a name as is, or the name inside a complete ARN (with the
 * right suffix) or a partial one (without it), as AWS resolves them. `exists` says whether the
 * vault has a secret of that name. An ARN of another account or suffix names nothing: undefined.
 */
export function nameFromSecretId(secretId: string, scope: Omit<ArnScope, 'region'>, exists: (name: string) => boolean): string | undefined {
  const m = ARN.exec(secretId);
  if (!m) return secretId;
  if (m[2] !== scope.accountId) return undefined;
  const rest = m[3] as string;
  const full = /^(.+)-([A-Za-z0-9]{6})$/.exec(rest);
  if (full && exists(full[1] as string) && arnSuffix(scope.vaultId, full[1] as string) === full[2]) return full[1];
  return exists(rest) ? rest : undefined;
}

const TO_AWS = new Map([
  [CURRENT, 'AWSCURRENT'],
  [PREVIOUS, 'AWSPREVIOUS'],
  [PENDING, 'AWSPENDING'],
]);
const FROM_AWS = new Map([...TO_AWS].map(([ours, aws]) => [aws, ours]));

/** A label as AWS names it (CURRENT → AWSCURRENT). */
export function awsLabel(label: string): string {
  return TO_AWS.get(label) ?? label;
}

/** A label as this project names it (AWSCURRENT → CURRENT). */
export function ourLabel(label: string): string {
  return FROM_AWS.get(label) ?? label;
}

/** An ISO time as AWS's JSON protocol sends a timestamp: epoch seconds. */
export function epoch(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** AWS's validation error for one member. */
export function validation(member: string, constraint: string, value: string | null = null): AwsError {
  const shown = value === null ? 'null' : `'${value}'`;
  return new AwsError('ValidationException', `1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${constraint}`);
}

/** The request body, read as AWS reads it: a JSON object or a SerializationException. */
export type Input = Record<string, unknown>;

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** A string member, with AWS's length constraints. */
export function str(input: Input, name: string, opts: { required?: boolean; min?: number; max?: number } = {}): string | undefined {
  const v = input[name];
  if (v === undefined || v === null) {
    if (opts.required) throw validation(lowerFirst(name), 'Member must not be null');
    return undefined;
  }
  if (typeof v !== 'string') throw new AwsError('SerializationException', `STRING_VALUE can not be converted to ${name}`);
  if (opts.min !== undefined && v.length < opts.min)
    throw validation(lowerFirst(name), `Member must have length greater than or equal to ${opts.min}`, v.length > 256 ? null : v);
  if (opts.max !== undefined && v.length > opts.max) throw validation(lowerFirst(name), `Member must have length less than or equal to ${opts.max}`);
  return v;
}

/** A boolean member. */
export function bool(input: Input, name: string): boolean | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new AwsError('SerializationException', `Unrecognized value for ${name}: expected a boolean`);
  return v;
}

/** An integer member within bounds. */
export function int(input: Input, name: string, min: number, max: number): number | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new AwsError('SerializationException', `Unrecognized value for ${name}: expected an integer`);
  if (v < min) throw validation(lowerFirst(name), `Member must have value greater than or equal to ${min}`, String(v));
  if (v > max) throw validation(lowerFirst(name), `Member must have value less than or equal to ${max}`, String(v));
  return v;
}

/** A list member. */
export function list(input: Input, name: string): unknown[] | undefined {
  const v = input[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new AwsError('SerializationException', `Unrecognized value for ${name}: expected a list`);
  return v as unknown[];
}

/** A secret's value from SecretString or SecretBinary (base64), at most one of them. */
export function secretValue(input: Input): { bytes: Buffer; type: 'string' | 'binary' } | undefined {
  const text = str(input, 'SecretString');
  const binary = str(input, 'SecretBinary');
  if (text !== undefined && binary !== undefined) {
    throw new AwsError('InvalidParameterException', "You can't specify both a binary secret value and a string secret value in the same secret.");
  }
  if (text !== undefined) {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length > MAX_AWS_VALUE_BYTES) throw validation('secretString', `Member must have length less than or equal to ${MAX_AWS_VALUE_BYTES}`);
    return { bytes, type: 'string' };
  }
  if (binary !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(binary) || binary.length % 4 !== 0) {
      throw new AwsError('SerializationException', 'Base64 encoded value for SecretBinary is invalid');
    }
    const bytes = Buffer.from(binary, 'base64');
    if (bytes.length > MAX_AWS_VALUE_BYTES) throw validation('secretBinary', `Member must have length less than or equal to ${MAX_AWS_VALUE_BYTES}`);
    return { bytes, type: 'binary' };
  }
  return undefined;
}

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";

/**
 * AWS's answer for one of this project's errors, in the operation `action` on `name` by
 * `member`. Messages are this project's (which never hold a value) where AWS has no fixed text.
 */
export function toAwsError(err: SecretsError, action: string, ctx: { name?: string | undefined; member: string; accountId: string }): AwsError {
  switch (err.code) {
    case 'NOT_FOUND':
    case 'VAULT_NOT_FOUND':
      if (/ has no (version|resource policy)/.test(err.message)) return new AwsError('ResourceNotFoundException', notFoundDetail(err.message));
      return new AwsError('ResourceNotFoundException', NOT_FOUND);
    case 'SECRET_DELETED':
      return new AwsError('InvalidRequestException', MARKED_FOR_DELETION);
    case 'ALREADY_EXISTS':
      if (/scheduled for deletion/.test(err.message)) {
        return new AwsError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
      }
      return new AwsError('ResourceExistsException', `The operation failed because the secret ${ctx.name ?? ''} already exists.`);
    case 'CONFLICT':
      if (/already exists with a different value/.test(err.message)) {
        return new AwsError('ResourceExistsException', "You can't modify an existing version, you can only create a new version.");
      }
      if (/already scheduled for deletion/.test(err.message)) {
        return new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was already scheduled for deletion.");
      }
      if (/^label /.test(err.message)) return new AwsError('InvalidParameterException', err.message);
      return new AwsError('InvalidRequestException', err.message);
    case 'DENIED': {
      const how = / explicit deny/.test(err.message) ? 'with an explicit deny in an identity-based policy' : 'because no identity-based policy allows the';
      const tail = how.startsWith('with') ? how : `${how} secretsmanager:${action} action`;
      return new AwsError(
        'AccessDeniedException',
        `User: arn:aws:iam::${ctx.accountId}:user/${ctx.member} is not authorized to perform: secretsmanager:${action} on resource: ${ctx.name ?? '*'} ${tail}`,
      );
    }
    case 'INVALID_NAME':
      return new AwsError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    case 'USAGE':
    case 'INVALID_VALUE':
      return new AwsError('InvalidParameterException', err.message);
    case 'LIMIT_EXCEEDED':
      return new AwsError('LimitExceededException', err.message);
    case 'DECRYPTION_FAILED':
      return new AwsError('DecryptionFailure', "Secrets Manager can't decrypt the protected secret text using the provided KMS key.");
    case 'ROTATION_FAILED':
      return new AwsError('InvalidRequestException', err.message);
    default:
      // Storage, audit, integrity, identity, lock: the server's side, which a client may retry.
      return new AwsError('InternalServiceError', err.message, 500);
  }
}

function notFoundDetail(message: string): string {
  const label = / has no version labelled (\S+)/.exec(message);
  if (label) return `Secrets Manager can't find the specified secret value for staging label: ${awsLabel(label[1] as string)}`;
  const version = / has no version (\S+)/.exec(message);
  if (version) return `Secrets Manager can't find the specified secret value for VersionId: ${version[1] as string}`;
  if (/resource policy/.test(message)) return NOT_FOUND;
  return NOT_FOUND;
}
