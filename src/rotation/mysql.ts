/**
 * The `mysql` handler: rotates the password of a MySQL or MariaDB account, as AWS's RDS MySQL
 * rotation templates (SingleUser, MultiUser) do, against any reachable server.
 *
 * The value is AWS's RDS secret JSON:
 *
 *   {"engine":"mysql","host":"db.internal","port":3306,"username":"app","password":"…",
 *    "dbname":"app","ssl":"verify-full","sslrootcert":"/etc/ssl/db-root.pem"}
 *
 * `engine` is optional (mysql, mariadb, aurora-mysql or aurora when present); `port` defaults to
 * 3306; `dbname` is optional (no default database). Other fields are kept as they are. The master
 * secret of alternating users is `{"username","password"}` plus, optionally, its own host, port,
 * ssl and sslrootcert (each defaults to the rotated secret's).
 *
 * TLS is the `ssl` field, with PostgreSQL's sslmode names so both handlers read alike:
 * `"disable"` (or false) — none; `"require"` (or true) — TLS, certificate not checked;
 * `"verify-ca"` — TLS, chain checked (MySQL's VERIFY_CA); `"verify-full"` — chain and host name
 * checked (VERIFY_IDENTITY). The roots are the PEM file `sslrootcert`, else Node's bundled CA
 * list. Anything else (`prefer`, `preferred`…) is refused: falling back to plaintext is what an
 * attacker on the path would force. No `ssl`: `disable` for a loopback host (localhost,
 * 127.x.x.x, ::1), `verify-full` otherwise. A server without TLS fails a client that asked for it.
 *
 * Keeping the new password out of server logs: MySQL rewrites `IDENTIFIED BY '…'` to `<secret>`
 * in its general, slow and binary logs, so there we send `ALTER USER … IDENTIFIED BY ?`
 * (client-side escaping). MariaDB does not rewrite (its general log shows the plaintext), so for
 * a mysql_native_password account we send the hash instead — `SET PASSWORD = '*<hex
 * SHA1(SHA1(password))>'` for one's own account (MariaDB's ALTER USER needs CREATE USER even
 * then), `ALTER USER … IDENTIFIED BY PASSWORD '*…'` as the master — computed here, which is what
 * the server stores anyway. A MariaDB
 * account with another plugin (ed25519, unix_socket…), or a server whose password validation
 * refuses pre-hashed passwords, gets `SET PASSWORD … = PASSWORD(?)`, which keeps its plugin; we
 * note that this one statement carries the plaintext.
 *
 * single-user: if PENDING already logs in (a resumed rotation), nothing to do; else log in with
 * CURRENT (or PREVIOUS, when CURRENT no longer works) and change the account's own password:
 * the account the server matched, whatever its host part (MySQL `ALTER USER CURRENT_USER()`,
 * MariaDB `SET PASSWORD`, which any account may run for itself).
 *
 * alternating-users: the users `base` and `base_clone` take turns; the master logs in, and for
 * every host `base` exists on (`SELECT Host FROM mysql.user`): creates `base_clone`@host if
 * missing (with a throwaway password, so a crash before its grants are in place leaves a clone
 * nobody can log in as), replays `SHOW GRANTS FOR base@host` with the name replaced (AWS's way),
 * and only then sets the real password on all of the user's hosts in one ALTER USER. The other
 * user keeps working throughout. Replayed: privilege and role grants, WITH GRANT/ADMIN OPTION,
 * default roles. Not copied: the USAGE line's authentication, TLS requirements (REQUIRE) and
 * resource limits. The master needs CREATE USER, SELECT on mysql.user and the grant option on
 * what it replays (ALL PRIVILEGES … WITH GRANT OPTION does).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type * as Mysql2 from 'mysql2/promise';
import type { Connection, ConnectionOptions, RowDataPacket, SslOptions } from 'mysql2/promise';
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

const ENGINES = ['mysql', 'mariadb', 'aurora-mysql', 'aurora'];
const DEFAULT_PORT = 3306;
/** ER_NOT_VALID_PASSWORD: a password validation plugin refused the (pre-hashed) password. */
const ER_NOT_VALID_PASSWORD = 1819;

type MysqlModule = typeof Mysql2;
let mysqlModule: Promise<MysqlModule> | undefined;
/** `mysql2` loads only when a MySQL rotation runs. */
function loadMysql(): Promise<MysqlModule> {
  mysqlModule ??= import('mysql2/promise');
  return mysqlModule;
}

/** Where and as whom to connect. */
interface MyTarget {
  readonly username: string;
  readonly password: string;
  readonly host: string;
  readonly port: number;
  readonly database: string | undefined;
  readonly tls: TlsMode;
  readonly sslrootcert: string | undefined;
}

function tlsOf(obj: Record<string, unknown>, label: ValueLabel, host: string): { tls: TlsMode; sslrootcert: string | undefined } | undefined {
  const sslrootcert = stringField(obj, 'sslrootcert', label, false);
  const v = Object.prototype.hasOwnProperty.call(obj, 'ssl') ? obj['ssl'] : undefined;
  if (v === undefined || v === null) return sslrootcert === undefined ? undefined : { tls: defaultTlsMode(host), sslrootcert };
  const tls = v === true ? 'require' : v === false ? 'disable' : typeof v === 'string' ? TLS_MODES.find((m) => m === v.toLowerCase()) : undefined;
  if (tls === undefined) {
    throw new SecretsError(
      'INVALID_VALUE',
      `the ${label} value's "ssl" is not one of true, false, "disable", "require", "verify-ca", "verify-full"`,
      'modes that may fall back to plaintext (prefer, preferred) are refused; use "require" or "verify-full"',
    );
  }
  return { tls, sslrootcert };
}

function targetOf(obj: Record<string, unknown>, label: ValueLabel): MyTarget {
  checkEngine(obj, label, ENGINES, 'mysql');
  const host = stringField(obj, 'host', label, true);
  const tls = tlsOf(obj, label, host) ?? { tls: defaultTlsMode(host), sslrootcert: undefined };
  return {
    username: stringField(obj, 'username', label, true),
    password: stringField(obj, 'password', label, true),
    host,
    port: portField(obj, label, DEFAULT_PORT),
    database: stringField(obj, 'dbname', label, false),
    ...tls,
  };
}

function parseValue(value: SecretBytes, label: ValueLabel): { fields: Record<string, unknown>; target: MyTarget } {
  const fields = readJsonObject(value, label, 'mysql');
  return { fields, target: targetOf(fields, label) };
}

function tryTarget(value: SecretBytes, label: ValueLabel): MyTarget | undefined {
  try {
    return parseValue(value, label).target;
  } catch {
    return undefined; // e.g. a PREVIOUS from before rotation was set up
  }
}

function masterTarget(value: SecretBytes, rotated: MyTarget): MyTarget {
  const obj = readJsonObject(value, 'master', 'mysql');
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
    database: stringField(obj, 'dbname', 'master', false),
    ...tls,
  };
}

/** mysql_native_password's stored form: `*` and the upper-case hex of SHA1(SHA1(password)). */
export function mysqlNativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  const hash = `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
  inner.fill(0);
  return hash;
}

/** `user`@`host` as SHOW GRANTS prints it (backticks; MySQL 5.7 used quotes). */
function grantIdentities(user: string, host: string): string[] {
  const bt = (s: string): string => `\`${s.replace(/`/g, '``')}\``;
  return [`${bt(user)}@${bt(host)}`, `'${user}'@'${host}'`];
}

/**
 * One line of `SHOW GRANTS FOR base@host` rewritten for the clone, or undefined to skip it.
 * USAGE lines are skipped (CREATE USER gives USAGE; MariaDB's carries the base's password hash).
 * After the grantee only WITH GRANT OPTION / WITH ADMIN OPTION are kept, never IDENTIFIED….
 */
export function rewriteGrant(line: string, base: { user: string; host: string }, cloneIdent: string): string | undefined {
  if (/^GRANT USAGE ON \*\.\* TO /i.test(line)) return undefined;
  for (const ident of grantIdentities(base.user, base.host)) {
    if (/^GRANT /i.test(line)) {
      const at = line.lastIndexOf(` TO ${ident}`);
      if (at < 0) continue;
      const rest = line.slice(at + ` TO ${ident}`.length);
      const options = [/\bWITH GRANT OPTION\b/i.test(rest) ? ' WITH GRANT OPTION' : '', /\bWITH ADMIN OPTION\b/i.test(rest) ? ' WITH ADMIN OPTION' : ''].join(
        '',
      );
      return `${line.slice(0, at)} TO ${cloneIdent}${options}`;
    }
    if (/^SET DEFAULT ROLE /i.test(line)) {
      const at = line.lastIndexOf(` FOR ${ident}`);
      if (at < 0) continue;
      return `${line.slice(0, at)} FOR ${cloneIdent}`;
    }
  }
  return undefined;
}

function where(t: MyTarget): string {
  return `MySQL at ${t.host}:${t.port}`;
}

function redactorFor(req: RotationRequest): Redactor {
  return new Redactor().addValues(req.current, req.pending, req.previous, req.master);
}

/** MariaDB's SHOW CREATE USER prints `IDENTIFIED VIA plugin…` for every plugin but mysql_native_password. */
function isNativeAccount(showCreateUser: string): boolean {
  return !/\bIDENTIFIED\s+VIA\b/i.test(showCreateUser);
}

const PLAINTEXT_NOTE =
  "MariaDB: this account does not use mysql_native_password (or the server refuses pre-hashed passwords), so the new password was sent as SET PASSWORD … = PASSWORD(…), which MariaDB's general query log records in clear if it is on";

/** Rotates MySQL and MariaDB passwords. */
export class MysqlRotation implements RotationHandler {
  readonly #timeoutMs: number;

  constructor(options: DatabaseRotationOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  }

  async createSecret(req: RotationRequest): Promise<SecretBytes> {
    const { fields, target } = parseValue(req.current, 'CURRENT');
    const username = strategyOf(req) === 'alternating-users' ? alternateUsername(target.username) : target.username;
    return newDatabaseValue(req, fields, username);
  }

  async setSecret(req: PendingRequest): Promise<void> {
    const redactor = redactorFor(req);
    const current = parseValue(req.current, 'CURRENT').target;
    const pending = parseValue(req.pending, 'PENDING').target;
    redactor.add(mysqlNativePasswordHash(pending.password));
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
    if (master === undefined) await this.#setOwnPassword(req, current, pending, redactor);
    else await this.#setAsMaster(req, master, pending, redactor);
  }

  async testSecret(req: PendingRequest): Promise<void> {
    const redactor = redactorFor(req);
    const pending = parseValue(req.pending, 'PENDING').target;
    let conn: Connection;
    try {
      conn = await this.#connect(pending);
    } catch (e) {
      throw rotationFailed(`cannot log in to ${where(pending)} as ${JSON.stringify(pending.username)} with the PENDING password`, e, redactor);
    }
    try {
      const rows = await this.#rows(conn, 'SELECT CURRENT_USER() AS u');
      const u: unknown = rows[0]?.['u'];
      if (typeof u !== 'string' || !u.startsWith(`${pending.username}@`)) {
        throw new SecretsError('ROTATION_FAILED', `logged in with the PENDING value but the server says the user is not ${JSON.stringify(pending.username)}`);
      }
    } catch (e) {
      if (e instanceof SecretsError) throw e;
      throw rotationFailed(`SELECT CURRENT_USER() as ${JSON.stringify(pending.username)} failed`, e, redactor);
    } finally {
      await close(conn);
    }
  }

  async finishSecret(): Promise<void> {}

  async #setOwnPassword(req: PendingRequest, current: MyTarget, pending: MyTarget, redactor: Redactor): Promise<void> {
    const conn: Connection = await connectCurrentOrPrevious(req, current, pending, {
      connect: (t) => this.#connect(t),
      previous: (v) => tryTarget(v, 'PREVIOUS'),
      where,
      redactor,
    });
    let step = 'SELECT VERSION()';
    try {
      if (!(await this.#isMariadb(conn))) {
        step = 'ALTER USER CURRENT_USER()';
        await this.#exec(conn, 'ALTER USER CURRENT_USER() IDENTIFIED BY ?', [pending.password]);
        return;
      }
      step = 'SHOW CREATE USER CURRENT_USER()';
      const show = await this.#firstColumn(conn, 'SHOW CREATE USER CURRENT_USER()');
      if (isNativeAccount(show)) {
        // SET PASSWORD, not ALTER USER: MariaDB's ALTER USER needs CREATE USER even for one's own account.
        step = 'SET PASSWORD';
        try {
          await this.#exec(conn, 'SET PASSWORD = ?', [mysqlNativePasswordHash(pending.password)]);
          return;
        } catch (e) {
          if ((e as { errno?: number }).errno !== ER_NOT_VALID_PASSWORD) throw e;
        }
      }
      step = 'SET PASSWORD';
      await this.#exec(conn, 'SET PASSWORD = PASSWORD(?)', [pending.password]);
      req.note(PLAINTEXT_NOTE);
    } catch (e) {
      throw rotationFailed(`${step} as ${JSON.stringify(pending.username)} failed`, e, redactor);
    } finally {
      await close(conn);
    }
  }

  async #setAsMaster(req: PendingRequest, master: MyTarget, pending: MyTarget, redactor: Redactor): Promise<void> {
    let conn: Connection;
    try {
      conn = await this.#connect(master);
    } catch (e) {
      throw rotationFailed(`cannot log in to ${where(master)} as the master user ${JSON.stringify(master.username)}`, e, redactor);
    }
    const base = baseUsername(pending.username);
    const user = pending.username;
    let step = 'SELECT VERSION()';
    try {
      const mariadb = await this.#isMariadb(conn);
      const hostsOf = async (name: string): Promise<string[]> => {
        step = `looking up user ${JSON.stringify(name)} in mysql.user`;
        const rows = await this.#rows(conn, 'SELECT Host AS h FROM mysql.user WHERE User = ?', [name]);
        return rows.map((r) => String(r['h']));
      };
      const baseHosts = await hostsOf(base);
      if (baseHosts.length === 0) {
        throw new SecretsError(
          'ROTATION_FAILED',
          `the user ${JSON.stringify(base)} does not exist on ${where(master)}`,
          'create the base user, or fix the username in the secret',
        );
      }
      let hosts = baseHosts;
      if (user !== base) {
        const cloneHosts = await hostsOf(user);
        for (const host of baseHosts) {
          if (!cloneHosts.includes(host)) {
            step = `CREATE USER ${JSON.stringify(user)}@${JSON.stringify(host)}`;
            const throwaway = randomBytes(24).toString('base64url');
            if (mariadb) await this.#exec(conn, 'CREATE USER ?@? IDENTIFIED BY PASSWORD ?', [user, host, mysqlNativePasswordHash(throwaway)]);
            else await this.#exec(conn, 'CREATE USER ?@? IDENTIFIED BY ?', [user, host, throwaway]);
          }
          step = `SHOW GRANTS FOR ${JSON.stringify(base)}@${JSON.stringify(host)}`;
          const grants = await this.#rows(conn, 'SHOW GRANTS FOR ?@?', [base, host]);
          const cloneIdent = `${conn.escape(user)}@${conn.escape(host)}`;
          for (const row of grants) {
            const line = String(Object.values(row)[0]);
            const statement = rewriteGrant(line, { user: base, host }, cloneIdent);
            if (statement === undefined) continue;
            step = `replaying a grant of ${JSON.stringify(base)}@${JSON.stringify(host)} (${statement.split(' ')[0] ?? ''} …)`;
            await this.#exec(conn, statement);
          }
        }
        hosts = [...baseHosts, ...cloneHosts.filter((h) => !baseHosts.includes(h))];
      }
      step = `setting the password of ${JSON.stringify(user)}`;
      await this.#setPasswordAsMaster(req, conn, mariadb, user, hosts, pending.password);
    } catch (e) {
      if (e instanceof SecretsError) throw e;
      throw rotationFailed(`${step} as the master user ${JSON.stringify(master.username)} failed`, e, redactor);
    } finally {
      await close(conn);
    }
  }

  /** One ALTER USER for every host (so the password changes everywhere at once), hashed on MariaDB. */
  async #setPasswordAsMaster(req: PendingRequest, conn: Connection, mariadb: boolean, user: string, hosts: readonly string[], password: string): Promise<void> {
    if (!mariadb) {
      await this.#exec(
        conn,
        `ALTER USER ${hosts.map(() => '?@? IDENTIFIED BY ?').join(', ')}`,
        hosts.flatMap((h) => [user, h, password]),
      );
      return;
    }
    let native = true;
    for (const h of hosts) native &&= isNativeAccount(await this.#firstColumn(conn, 'SHOW CREATE USER ?@?', [user, h]));
    if (native) {
      const hash = mysqlNativePasswordHash(password);
      try {
        await this.#exec(
          conn,
          `ALTER USER ${hosts.map(() => '?@? IDENTIFIED BY PASSWORD ?').join(', ')}`,
          hosts.flatMap((h) => [user, h, hash]),
        );
        return;
      } catch (e) {
        if ((e as { errno?: number }).errno !== ER_NOT_VALID_PASSWORD) throw e;
      }
    }
    for (const h of hosts) await this.#exec(conn, 'SET PASSWORD FOR ?@? = PASSWORD(?)', [user, h, password]);
    req.note(PLAINTEXT_NOTE);
  }

  async #isMariadb(conn: Connection): Promise<boolean> {
    return /mariadb/i.test(await this.#firstColumn(conn, 'SELECT VERSION()'));
  }

  async #exec(conn: Connection, sql: string, values?: unknown[]): Promise<void> {
    await conn.query({ sql, timeout: this.#timeoutMs }, values);
  }

  async #rows(conn: Connection, sql: string, values?: unknown[]): Promise<RowDataPacket[]> {
    const [rows] = await conn.query<RowDataPacket[]>({ sql, timeout: this.#timeoutMs }, values);
    return rows;
  }

  async #firstColumn(conn: Connection, sql: string, values?: unknown[]): Promise<string> {
    const rows = await this.#rows(conn, sql, values);
    const first: unknown = rows[0] === undefined ? undefined : Object.values(rows[0])[0];
    if (typeof first === 'string') return first;
    if (first instanceof Buffer) return first.toString('utf8');
    return typeof first === 'number' || typeof first === 'bigint' ? first.toString() : '';
  }

  /** Whether `t` logs in (any failure counts as no: the caller goes on to set the password). */
  async #works(t: MyTarget): Promise<boolean> {
    try {
      await close(await this.#connect(t));
      return true;
    } catch {
      return false;
    }
  }

  async #connect(t: MyTarget): Promise<Connection> {
    const mysql = await loadMysql();
    const ssl = await sslOptions(t);
    const options: ConnectionOptions = {
      host: t.host,
      port: t.port,
      user: t.username,
      password: t.password,
      connectTimeout: this.#timeoutMs,
      multipleStatements: false,
      charset: 'utf8mb4',
      ...(t.database === undefined ? {} : { database: t.database }),
      ...(ssl === undefined ? {} : { ssl }),
    };
    const conn = await mysql.createConnection(options);
    conn.on('error', () => undefined); // a connection lost between queries surfaces as the next query's error
    return conn;
  }
}

async function sslOptions(t: MyTarget): Promise<SslOptions | undefined> {
  if (t.tls === 'disable') return undefined;
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
  return { rejectUnauthorized: true, verifyIdentity: t.tls === 'verify-full', ...(ca === undefined ? {} : { ca }) };
}

async function close(conn: Connection): Promise<void> {
  try {
    await conn.end();
  } catch {
    conn.destroy();
  }
}
