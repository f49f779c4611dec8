/**
 * What the `postgres` and `mysql` handlers share: reading the secret's JSON (the AWS RDS shape),
 * the new value of createSecret, the TLS rule, and turning driver errors into ROTATION_FAILED
 * messages that never carry a password.
 *
 * Errors: a value that is not the expected JSON is INVALID_VALUE; anything the database (or the
 * network) refuses is ROTATION_FAILED. Messages name fields, users, hosts and the driver's error
 * code, never a value; every known password (and the forms we derived from it) is replaced by
 * [REDACTED] in whatever text the driver gave us, and MySQL's "near '…'" SQL excerpts are cut.
 */
import { SecretsError } from '../core/errors.js';
import type { PendingRequest, RotationRequest } from '../core/rotation.js';
import { SecretBytes } from '../core/secret-bytes.js';
import { passwordOptionsOf } from './password.js';
import { randomPassword } from '../crypto/password.js';

/**
 * Characters left out of generated database passwords unless the rotation's `random` options say
 * otherwise, as AWS's RDS rotation templates do: `/ @ " '` and backslash break connection strings,
 * shell quoting and some drivers.
 */
export const DB_EXCLUDED_CHARACTERS = '/@"\'\\';

/** Connection and statement time limit (ms) of the database handlers. */
export const DEFAULT_DB_TIMEOUT_MS = 10_000;

/** Options of the database handlers (the defaults are what the CLI uses). */
export interface DatabaseRotationOptions {
  /** Connect and per-statement timeout in ms (default 10 000). */
  readonly timeoutMs?: number;
}

/** Which stored value a message is about. */
export type ValueLabel = 'CURRENT' | 'PENDING' | 'PREVIOUS' | 'master';

/**
 * TLS on a connection, in libpq's words. `disable`: none. `require`: TLS, certificate not checked.
 * `verify-ca`: TLS, chain checked against `sslrootcert` (or the system roots), host name not.
 * `verify-full`: chain and host name checked. There is no `prefer`/`allow`: a client that
 * silently falls back to plaintext is one an active attacker can downgrade.
 */
export type TlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** The TLS modes accepted in a secret's `sslmode` (postgres) or `ssl` (mysql) field. */
export const TLS_MODES: readonly TlsMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** localhost, 127.0.0.0/8 and ::1 (with or without brackets). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/**
 * The rule when a secret names no TLS mode: `disable` for a loopback host (a local server
 * rarely has a certificate and the traffic never leaves the machine), `verify-full` for every
 * other host (credentials cross a network: encrypt and authenticate the server).
 */
export function defaultTlsMode(host: string): TlsMode {
  return isLoopbackHost(host) ? 'disable' : 'verify-full';
}

/** The value parsed as a JSON object (key order kept), or INVALID_VALUE naming the label. */
export function readJsonObject(value: SecretBytes, label: ValueLabel, engine: string): Record<string, unknown> {
  const text = value.revealText();
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretsError(
      'INVALID_VALUE',
      `the ${label} value is not a JSON object`,
      `a ${engine} rotation needs {"engine","host","port","username","password",...} as in AWS's RDS secrets`,
    );
  }
  return parsed as Record<string, unknown>;
}

function has(obj: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key) && obj[key] !== undefined && obj[key] !== null;
}

/** A non-empty string field; INVALID_VALUE when required and missing, or present and not a non-empty string. */
export function stringField(obj: Record<string, unknown>, key: string, label: ValueLabel, required: true): string;
export function stringField(obj: Record<string, unknown>, key: string, label: ValueLabel, required: false): string | undefined;
export function stringField(obj: Record<string, unknown>, key: string, label: ValueLabel, required: boolean): string | undefined {
  if (!has(obj, key)) {
    if (required) throw new SecretsError('INVALID_VALUE', `the ${label} value has no "${key}" field`);
    return undefined;
  }
  const v = obj[key];
  if (typeof v !== 'string' || v === '') throw new SecretsError('INVALID_VALUE', `the ${label} value's "${key}" field is not a non-empty string`);
  return v;
}

/** The `port` field: an integer 1–65535 (or a string of digits, as some AWS secrets have), else `fallback`. */
export function portField(obj: Record<string, unknown>, label: ValueLabel, fallback: number): number {
  if (!has(obj, 'port')) return fallback;
  const v = obj['port'];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new SecretsError('INVALID_VALUE', `the ${label} value's "port" field is not a port number (1-65535)`);
  return n;
}

/** INVALID_VALUE unless `engine` (when present) is one of `accepted`. */
export function checkEngine(obj: Record<string, unknown>, label: ValueLabel, accepted: readonly string[], handler: string): void {
  if (!has(obj, 'engine')) return;
  const v = obj['engine'];
  if (typeof v !== 'string' || !accepted.includes(v.toLowerCase())) {
    throw new SecretsError(
      'INVALID_VALUE',
      `the ${label} value's "engine" is not one the ${handler} handler rotates`,
      `use "engine": "${accepted[0]}", or another handler`,
    );
  }
}

const CLONE_SUFFIX = '_clone';

/** The user an alternating pair is named after: the username without a trailing `_clone`. */
export function baseUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) && username.length > CLONE_SUFFIX.length ? username.slice(0, -CLONE_SUFFIX.length) : username;
}

/** `base` ↔ `base_clone` (AWS's alternating-users naming). */
export function alternateUsername(username: string): string {
  const base = baseUsername(username);
  return username === base ? `${base}${CLONE_SUFFIX}` : base;
}

/**
 * createSecret of both database handlers: the CURRENT JSON with a new `password` (and, for
 * alternating users, the other `username`), every other field and the key order unchanged.
 * `validate` has already checked the value.
 */
export function newDatabaseValue(req: RotationRequest, current: Record<string, unknown>, username: string): SecretBytes {
  const password = randomPassword(passwordOptionsOf(req.config, { excludeCharacters: DB_EXCLUDED_CHARACTERS }));
  const next: Record<string, unknown> = { ...current };
  next['username'] = username;
  next['password'] = password;
  return SecretBytes.fromString(JSON.stringify(next));
}

/** The strategy of a request (single-user unless configured otherwise). */
export function strategyOf(req: RotationRequest): 'single-user' | 'alternating-users' {
  return req.config.strategy ?? 'single-user';
}

/** The master value of an alternating-users request, or INVALID_VALUE. */
export function requireMaster(req: RotationRequest): SecretBytes {
  if (req.master === undefined) {
    throw new SecretsError(
      'INVALID_VALUE',
      'alternating-users rotation needs the master secret',
      'configure it with --master NAME (a secret holding the administrator\'s {"username","password"})',
    );
  }
  return req.master;
}

const MYSQL_ESCAPES: Record<string, string> = { '\0': '0', '\b': 'b', '\t': 't', '\n': 'n', '\r': 'r', '\x1a': 'Z' };

/**
 * Replaces secrets in text a driver produced. Longest first, so a password that contains
 * another is not half-replaced.
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Adds a secret and the escaped forms it takes inside SQL literals and JSON. */
  add(secret: string | undefined): this {
    if (secret === undefined || secret === '') return this;
    this.#secrets.add(secret);
    this.#secrets.add(secret.replace(/'/g, "''")); // SQL standard literal
    this.#secrets.add(secret.replace(/[\0\b\t\n\r\x1a"'\\]/g, (c) => `\\${MYSQL_ESCAPES[c] ?? c}`)); // mysql2 (sqlstring) escaping
    this.#secrets.add(JSON.stringify(secret).slice(1, -1));
    return this;
  }

  /** Adds the `password` field of each value that parses (those that don't carry none we know of). */
  addValues(...values: (SecretBytes | undefined)[]): this {
    for (const v of values) {
      if (v === undefined) continue;
      const text = v.revealText();
      if (text === undefined) continue;
      try {
        const obj: unknown = JSON.parse(text);
        if (typeof obj === 'object' && obj !== null && typeof (obj as Record<string, unknown>)['password'] === 'string') {
          this.add((obj as Record<string, string>)['password']);
        }
      } catch {
        this.add(text);
      }
    }
    return this;
  }

  redact(text: string): string {
    let out = text;
    for (const s of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('[REDACTED]');
    return out;
  }
}

/** The driver's code and message, one line, redacted; SQL excerpts (MySQL's "near '…'") cut. */
export function describeDriverError(e: unknown, redactor: Redactor): string {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof err.code === 'string' || typeof err.code === 'number' ? String(err.code) : undefined;
  let message = typeof err.message === 'string' ? err.message : typeof e === 'string' ? e : '';
  message = message
    .replace(/ near '[\s\S]*$/, ' near [SQL omitted]')
    .replace(/\s+/g, ' ')
    .trim();
  if (message.length > 300) message = `${message.slice(0, 300)}…`;
  const text = [code, message].filter((s) => s !== undefined && s !== '').join(': ');
  return redactor.redact(text === '' ? 'unknown error' : text);
}

/** ROTATION_FAILED for a failed action, with the (redacted) driver error. */
export function rotationFailed(action: string, e: unknown, redactor: Redactor, hint?: string): SecretsError {
  return new SecretsError('ROTATION_FAILED', `${action}: ${describeDriverError(e, redactor)}`, hint);
}

/**
 * setSecret's single-user login: CURRENT, or PREVIOUS when CURRENT no longer works (and names
 * the same user as PENDING), as AWS's templates do. Throws ROTATION_FAILED naming CURRENT's failure.
 */
export async function connectCurrentOrPrevious<T extends { username: string }, C>(
  req: PendingRequest,
  current: T,
  pending: T,
  opts: { connect: (target: T) => Promise<C>; previous: (value: SecretBytes) => T | undefined; where: (target: T) => string; redactor: Redactor },
): Promise<C> {
  let firstError: unknown;
  try {
    return await opts.connect(current);
  } catch (e) {
    firstError = e;
  }
  const previous = req.previous !== undefined ? opts.previous(req.previous) : undefined;
  if (previous !== undefined && previous.username === pending.username) {
    try {
      const conn = await opts.connect(previous);
      req.note('the CURRENT password no longer logs in; used the PREVIOUS one');
      return conn;
    } catch {
      // report CURRENT's failure below
    }
  }
  throw rotationFailed(
    `cannot log in to ${opts.where(current)} as ${JSON.stringify(current.username)} with the CURRENT or PREVIOUS password`,
    firstError,
    opts.redactor,
  );
}
