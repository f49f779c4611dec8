/**
 * The `postgres` handler: rotates the password of a PostgreSQL login, as AWS's RDS PostgreSQL
 * rotation templates (SingleUser, MultiUser) do, against any reachable server.
 *
 * The value is AWS's RDS secret JSON:
 *
 *   {"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"…",
 *    "dbname":"app","sslmode":"verify-full","sslrootcert":"/etc/ssl/db-root.pem"}
 *
 * `engine` is optional (postgres, postgresql or aurora-postgresql when present); `port` defaults
 * to 5432, `dbname` to postgres. Other fields are kept as they are. The master secret of
 * alternating users is `{"username","password"}` plus, optionally, its own host, port, dbname,
 * sslmode and sslrootcert (each defaults to the rotated secret's).
 *
 * TLS (`sslmode`, libpq's names): `disable` — none; `require` — TLS, certificate not checked;
 * `verify-ca` — TLS, chain checked; `verify-full` — chain and host name checked. The roots are
 * the PEM file `sslrootcert`, else Node's bundled CA list. `prefer` and `allow` are refused:
 * they fall back to plaintext when TLS fails, which an attacker on the path can force. No
 * `sslmode`: `disable` when the host is loopback (localhost, 127.x.x.x, ::1), `verify-full`
 * otherwise. A server that does not offer TLS to a client that asked for it is an error, never
 * a silent plaintext connection.
 *
 * The new password never reaches the server in clear: we send a SCRAM-SHA-256 verifier computed
 * here (RFC 5802/7677, what PostgreSQL itself stores), so a statement log, pg_stat_statements or
 * a replica's WAL holds only the verifier. PostgreSQL applies SASLprep to passwords and we do not
 * implement it, so non-ASCII passwords are refused (INVALID_VALUE); generated ones are ASCII.
 *
 * single-user: if PENDING already logs in (a resumed rotation), nothing to do; else log in with
 * CURRENT (or PREVIOUS, when CURRENT no longer works) and `ALTER ROLE <user> PASSWORD
 * '<verifier>'` — a role may always change its own password.
 *
 * alternating-users: the users `base` and `base_clone` take turns; the master logs in and, in
 * one transaction, creates `base_clone` if needed (`CREATE ROLE … WITH LOGIN PASSWORD
 * '<verifier>'`) and makes it a member of `base` (`GRANT base TO base_clone`), or sets the
 * password of the user whose turn it is. The other user, the one CURRENT names until
 * finishSecret, keeps working throughout. Membership rather than copied grants (AWS's choice
 * too): privileges in PostgreSQL live in every database's catalogs (tables, schemas, default
 * privileges, column ACLs…) and copying them is neither complete nor stable, while a member with
 * INHERIT has exactly base's privileges, including those granted to base later, and may act on
 * base's objects. Role attributes (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS,
 * CONNECTION LIMIT) are not inherited; objects the clone creates belong to the clone. The master
 * needs CREATEROLE and (PostgreSQL 16+) ADMIN OPTION on base, or SUPERUSER.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import type { Client, ClientConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { SecretsError } from '../core/errors.js';
import type { RotationHandler } from '../core/ports.js';
import type { PendingRequest, RotationRequest } from '../core/rotation.js';
import type { SecretBytes } from '../core/secret-bytes.js';
import {
  alternateUsername,
  baseUsername,
  checkEngine,
  connectCurrentOrPrevious,
  DEFAULT_DB_TIMEOUT_MS,
  defaultTlsMode,
  newDatabaseValue,
  portField,
  readJsonObject,
  Redactor,
  requireMaster,
  rotationFailed,
  strategyOf,
  stringField,
  TLS_MODES,
  type DatabaseRotationOptions,
  type TlsMode,
  type ValueLabel,
} from './database.js';

const ENGINES = ['postgres', 'postgresql', 'aurora-postgresql'];
const DEFAULT_PORT = 5432;
const DEFAULT_DBNAME = 'postgres';
/** NAMEDATALEN - 1: longer names are truncated by the server (with only a NOTICE). */
const MAX_ROLE_NAME_BYTES = 63;
const SCRAM_ITERATIONS = 4096;

type PgModule = typeof pg;
let pgModule: Promise<PgModule> | undefined;
/** `pg` loads only when a PostgreSQL rotation runs. */
function loadPg(): Promise<PgModule> {
  pgModule ??= import('pg').then((m) => m.default);
  return pgModule;
}

/** Where and as whom to connect. */
interface PgTarget {
  readonly username: string;
  readonly password: string;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly tls: TlsMode;
  readonly sslrootcert: string | undefined;
}

function tlsOf(obj: Record<string, unknown>, label: ValueLabel, host: string): { tls: TlsMode; sslrootcert: string | undefined } | undefined {
  const sslrootcert = stringField(obj, 'sslrootcert', label, false);
  const mode = stringField(obj, 'sslmode', label, false);
  if (mode === undefined) return sslrootcert === undefined ? undefined : { tls: defaultTlsMode(host), sslrootcert };
  const tls = TLS_MODES.find((m) => m === mode.toLowerCase());
  if (tls === undefined) {
    const downgrade = ['prefer', 'allow'].includes(mode.toLowerCase());
    throw new SecretsError(
      'INVALID_VALUE',
      `the ${label} value's "sslmode" ${downgrade ? `"${mode.toLowerCase()}" may silently fall back to plaintext and is refused` : 'is not one of disable, require, verify-ca, verify-full'}`,
      'use "require" (encrypt), "verify-full" (encrypt and check the server), or "disable"',
    );
  }
  return { tls, sslrootcert };
}

/** The rotated secret's value as a connection target. */
function targetOf(obj: Record<string, unknown>, label: ValueLabel): PgTarget {
  checkEngine(obj, label, ENGINES, 'postgres');
  const host = stringField(obj, 'host', label, true);
  const tls = tlsOf(obj, label, host) ?? { tls: defaultTlsMode(host), sslrootcert: undefined };
  return {
    username: stringField(obj, 'username', label, true),
    password: stringField(obj, 'password', label, true),
    host,
    port: portField(obj, label, DEFAULT_PORT),
    database: stringField(obj, 'dbname', label, false) ?? DEFAULT_DBNAME,
    ...tls,
  };
}

function parseValue(value: SecretBytes, label: ValueLabel): { fields: Record<string, unknown>; target: PgTarget } {
  const fields = readJsonObject(value, label, 'postgres');
  return { fields, target: targetOf(fields, label) };
}

/** The master's target: its own fields where it has them, the rotated secret's otherwise. */
function masterTarget(value: SecretBytes, rotated: PgTarget): PgTarget {
  const obj = readJsonObject(value, 'master', 'postgres');
  const host = stringField(obj, 'host', 'master', false);
  const sameHost = host === undefined || host === rotated.host;
  const effectiveHost = host ?? rotated.host;
  const tls =
    tlsOf(obj, 'master', effectiveHost) ??
    (sameHost ? { tls: rotated.tls, sslrootcert: rotated.sslrootcert } : { tls: defaultTlsMode(effectiveHost), sslrootcert: undefined });
  return {
    username: stringField(obj, 'username', 'master', true),
    password: stringField(obj, 'password', 'master', true),
    host: effectiveHost,
    port: portField(obj, 'master', rotated.port),
    database: stringField(obj, 'dbname', 'master', false) ?? rotated.database,
    ...tls,
  };
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 with SHA-256, RFC 7677):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` in base64. ASCII passwords only
 * (SASLprep maps nothing in ASCII, so the verifier is exactly the server's); others are INVALID_VALUE.
 */
export function scramSha256Verifier(password: string, salt: Uint8Array = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  if (!/^[\x00-\x7f]*$/.test(password)) {
    throw new SecretsError('INVALID_VALUE', 'the new PostgreSQL password has non-ASCII characters (SASLprep is not implemented)', 'generate an ASCII password');
  }
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  salted.fill(0);
  clientKey.fill(0);
  return `SCRAM-SHA-256$${iterations}:${Buffer.from(salt).toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A quoted identifier ("" doubles a quote). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A standard-conforming string literal (verifiers are base64 and `$:`, but quote anyway). */
function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function where(t: PgTarget): string {
  return `PostgreSQL at ${t.host}:${t.port}`;
}

function redactorFor(req: RotationRequest): Redactor {
  return new Redactor().addValues(req.current, req.pending, req.previous, req.master);
}

/** Rotates PostgreSQL passwords. */
export class PostgresRotation implements RotationHandler {
  readonly #timeoutMs: number;

  constructor(options: DatabaseRotationOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  }

  async createSecret(req: RotationRequest): Promise<SecretBytes> {
    const { fields, target } = parseValue(req.current, 'CURRENT');
    const username = strategyOf(req) === 'alternating-users' ? alternateUsername(target.username) : target.username;
    if (Buffer.byteLength(username, 'utf8') > MAX_ROLE_NAME_BYTES) {
      throw new SecretsError(
        'INVALID_VALUE',
        `the user name ${JSON.stringify(username)} is longer than PostgreSQL's ${MAX_ROLE_NAME_BYTES} bytes`,
        'use a shorter base user name',
      );
    }
    return newDatabaseValue(req, fields, username);
  }

  async setSecret(req: PendingRequest): Promise<void> {
    const redactor = redactorFor(req);
    const current = parseValue(req.current, 'CURRENT').target;
    const pending = parseValue(req.pending, 'PENDING').target;
    const verifier = scramSha256Verifier(pending.password);
    redactor.add(verifier);
    const alternating = strategyOf(req) === 'alternating-users';
    if (!alternating && pending.username !== current.username) {
      throw new SecretsError(
        'INVALID_VALUE',
        'single-user rotation: the PENDING username differs from the CURRENT one',
        'rotate with --strategy alternating-users, or cancel and restart the rotation',
      );
    }
    if (alternating && baseUsername(pending.username) !== baseUsername(current.username)) {
      throw new SecretsError('INVALID_VALUE', 'alternating-users rotation: the PENDING username is neither the CURRENT user nor its _clone');
    }
    const master = alternating ? masterTarget(requireMaster(req), pending) : undefined;
    redactor.add(master?.password);

    if (await this.#works(pending)) {
      req.note(`the PENDING password already works for ${JSON.stringify(pending.username)}; nothing to change`);
      return;
    }
    if (master === undefined) await this.#setOwnPassword(req, current, pending, verifier, redactor);
    else await this.#setAsMaster(master, pending, verifier, redactor);
  }

  async testSecret(req: PendingRequest): Promise<void> {
    const redactor = redactorFor(req);
    const pending = parseValue(req.pending, 'PENDING').target;
    let client: Client;
    try {
      client = await this.#connect(pending);
    } catch (e) {
      throw rotationFailed(`cannot log in to ${where(pending)} as ${JSON.stringify(pending.username)} with the PENDING password`, e, redactor);
    }
    try {
      const r = await client.query<{ u: string }>('SELECT current_user AS u');
      if (r.rows[0]?.u !== pending.username) {
        throw new SecretsError('ROTATION_FAILED', `logged in with the PENDING value but the server says the user is not ${JSON.stringify(pending.username)}`);
      }
    } catch (e) {
      if (e instanceof SecretsError) throw e;
      throw rotationFailed(`SELECT current_user as ${JSON.stringify(pending.username)} failed`, e, redactor);
    } finally {
      await close(client);
    }
  }

  async finishSecret(): Promise<void> {}

  async #setOwnPassword(req: PendingRequest, current: PgTarget, pending: PgTarget, verifier: string, redactor: Redactor): Promise<void> {
    const client: Client = await connectCurrentOrPrevious(req, current, pending, {
      connect: (t) => this.#connect(t),
      previous: (v) => tryTarget(v, 'PREVIOUS'),
      where,
      redactor,
    });
    try {
      await client.query(`ALTER ROLE ${quoteIdent(pending.username)} PASSWORD ${quoteLiteral(verifier)}`);
    } catch (e) {
      throw rotationFailed(`ALTER ROLE ${JSON.stringify(pending.username)} failed`, e, redactor);
    } finally {
      await close(client);
    }
  }

  async #setAsMaster(master: PgTarget, pending: PgTarget, verifier: string, redactor: Redactor): Promise<void> {
    let client: Client;
    try {
      client = await this.#connect(master);
    } catch (e) {
      throw rotationFailed(`cannot log in to ${where(master)} as the master user ${JSON.stringify(master.username)}`, e, redactor);
    }
    const base = baseUsername(pending.username);
    const user = pending.username;
    let step = 'BEGIN';
    try {
      await client.query('BEGIN');
      const exists = async (name: string): Promise<boolean> => {
        step = `looking up role ${JSON.stringify(name)}`;
        const r = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [name]);
        return (r.rowCount ?? 0) > 0;
      };
      if (!(await exists(base))) {
        throw new SecretsError(
          'ROTATION_FAILED',
          `the role ${JSON.stringify(base)} does not exist on ${where(master)}`,
          'create the base user, or fix the username in the secret',
        );
      }
      if (user === base) {
        step = `ALTER ROLE ${JSON.stringify(user)}`;
        await client.query(`ALTER ROLE ${quoteIdent(user)} PASSWORD ${quoteLiteral(verifier)}`);
      } else {
        if (await exists(user)) {
          step = `ALTER ROLE ${JSON.stringify(user)}`;
          await client.query(`ALTER ROLE ${quoteIdent(user)} PASSWORD ${quoteLiteral(verifier)}`);
        } else {
          step = `CREATE ROLE ${JSON.stringify(user)}`;
          await client.query(`CREATE ROLE ${quoteIdent(user)} WITH LOGIN PASSWORD ${quoteLiteral(verifier)}`);
        }
        // Every time, not only on creation: GRANT is idempotent, and a clone made by hand may lack it.
        step = `GRANT ${JSON.stringify(base)} TO ${JSON.stringify(user)}`;
        await client.query(`GRANT ${quoteIdent(base)} TO ${quoteIdent(user)}`);
      }
      step = 'COMMIT';
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (e instanceof SecretsError) throw e;
      throw rotationFailed(`${step} as the master user ${JSON.stringify(master.username)} failed`, e, redactor);
    } finally {
      await close(client);
    }
  }

  /** Whether `t` logs in (any failure counts as no: the caller goes on to set the password). */
  async #works(t: PgTarget): Promise<boolean> {
    try {
      await close(await this.#connect(t));
      return true;
    } catch {
      return false;
    }
  }

  async #connect(t: PgTarget): Promise<Client> {
    const pg = await loadPg();
    const config: ClientConfig = {
      host: t.host,
      port: t.port,
      user: t.username,
      password: t.password,
      database: t.database,
      // Always explicit: left undefined, pg would read PGSSLMODE from the environment.
      ssl: await sslOptions(t),
      connectionTimeoutMillis: this.#timeoutMs,
      query_timeout: this.#timeoutMs,
      statement_timeout: this.#timeoutMs,
      application_name: 'secrets-rotate',
    };
    const client = new pg.Client(config);
    client.on('error', () => undefined); // a connection lost between queries surfaces as the next query's error
    try {
      await client.connect();
    } catch (e) {
      await close(client);
      throw e;
    }
    return client;
  }
}

function tryTarget(value: SecretBytes, label: ValueLabel): PgTarget | undefined {
  try {
    return parseValue(value, label).target;
  } catch {
    return undefined; // e.g. a PREVIOUS from before rotation was set up
  }
}

async function sslOptions(t: PgTarget): Promise<false | ConnectionOptions> {
  if (t.tls === 'disable') return false;
  if (t.tls === 'require') return { rejectUnauthorized: false };
  let ca: Buffer | undefined;
  if (t.sslrootcert !== undefined) {
    try {
      ca = await readFile(t.sslrootcert);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'unreadable';
      throw new SecretsError('ROTATION_FAILED', `cannot read sslrootcert ${t.sslrootcert} (${code})`, 'point "sslrootcert" at a readable PEM file');
    }
  }
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    ...(t.tls === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}

async function close(client: Client): Promise<void> {
  try {
    await client.end();
  } catch {
    // already closed or broken: nothing left to release
  }
}
