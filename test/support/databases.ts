// Test helper: real, throwaway database servers (PostgreSQL and MariaDB) on 127.0.0.1, for the
// rotation handlers and the CLI's rotation tests.
//
// Typical use in a node:test suite:
//
//   const skip = skipReason(postgresAvailable());
//   describe('postgres rotation', { skip }, () => {
//     let db: DatabaseServer;
//     before(async () => { db = await startPostgres(); await db.createUser('app', 'old-password'); });
//     after(async () => { await db.stop(); });
//     it('rotates', async () => { assert.equal(await db.canLogin('app', 'old-password'), true); });
//   });
//
// Each server runs as its own system user (postgres as `postgres`, mariadbd as `mysql`), so the test
// process must be root. Everything (data dir, sockets, logs, TLS key) lives in one fresh temp dir owned
// by that user; stop() kills the server and deletes the dir. Servers listen on 127.0.0.1 only, on a free
// port, with password authentication on TCP (no trust): what a handler sees is what a real deployment sees.
//
// The daemons are started with `setpriv --reuid/--regid/--init-groups --pdeathsig TERM`, not `runuser`:
// runuser forks and waits (the pid we hold would not be the server's, and on SIGTERM it waits 2 s before
// giving up on its child), and setpriv sets the parent-death signal AFTER dropping privileges, so a crashed
// test process still takes its servers down. One-shot setup commands (initdb) use `runuser -u`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import pg from 'pg';

/** Contract: the result of postgresAvailable()/mariadbAvailable(); `reason` is one line, fit for a test skip message. */
export type DatabaseCheck = { ok: true } | { ok: false; reason: string };

/** Contract: a running throwaway server. Every method connects afresh over TCP to 127.0.0.1:port. */
export interface DatabaseServer {
  readonly engine: 'postgres' | 'mariadb';
  /** Contract: always '127.0.0.1'. */
  readonly host: string;
  readonly port: number;
  /** Contract: a password-authenticated superuser over TCP (`postgres`; MariaDB: `admin`, ALL PRIVILEGES WITH GRANT OPTION on 127.0.0.1 and localhost). */
  readonly superuser: { readonly username: string; readonly password: string };
  /**
   * Contract: a file the test may read (root can) holding every statement the server ran for clients when
   * statement logging is on: PostgreSQL's stderr log (log_statement=all), MariaDB's general query log.
   * Statements the harness itself runs (createUser, query) are NOT logged, so the log shows only the code under test.
   */
  readonly logFile: string;
  /** Contract: with `ssl: true`, the self-signed certificate (PEM; SAN localhost and 127.0.0.1) to use as the trusted root; else undefined. */
  readonly caFile: string | undefined;
  /** Contract: creates a login user with that password (PostgreSQL: a LOGIN role; MariaDB: `name`@`%`). */
  createUser(name: string, password: string): Promise<void>;
  /** Contract: true when `user`/`password` log in over plain TCP, false when the server refuses the credentials; throws on any other failure (e.g. server down). */
  canLogin(user: string, password: string): Promise<boolean>;
  /** Contract: runs one statement as the superuser (PostgreSQL `$1` / MariaDB `?` parameters) and returns its rows. */
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Contract: the log file's current text ('' if absent). */
  readLog(): string;
  /** Contract: kills the server, removes the temp dir; idempotent (same promise every call). */
  stop(): Promise<void>;
}

/** Contract: options of startPostgres. */
export interface PostgresOptions {
  /** log_statement=all (default true); false sets log_statement=none. */
  readonly logStatementAll?: boolean;
  /** Serve TLS with a fresh self-signed certificate (ssl=on; clients may still connect without TLS). Default false: ssl=off. */
  readonly ssl?: boolean;
}

/** Contract: options of startMariadb. */
export interface MariadbOptions {
  /** The general query log (default true). */
  readonly generalLog?: boolean;
  /** Serve TLS with a fresh self-signed certificate. Default false: TLS disabled (have_ssl=DISABLED). */
  readonly ssl?: boolean;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 5_000;
const PORT_ATTEMPTS = 4;

// ---------------------------------------------------------------------------------------------
// Discovery

function which(name: string, extraDirs: readonly string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f[2] !== undefined && f[3] !== undefined) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: treated as missing
  }
  return undefined;
}

/** Debian's layout: /usr/lib/postgresql/<major>/bin, newest major first; else initdb on PATH. */
function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const majors = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of majors) {
      const bin = join(root, v, 'bin');
      if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
    }
  }
  const initdb = which('initdb');
  return initdb !== undefined && existsSync(join(dirname(initdb), 'postgres')) ? dirname(initdb) : undefined;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin'];

function commonCheck(server: string, user: string, pkg: string): DatabaseCheck | undefined {
  if (process.platform !== 'linux') return { ok: false, reason: `real ${server} servers are only started on Linux` };
  if (process.getuid?.() !== 0)
    return { ok: false, reason: `starting ${server} as system user ${user} needs root (run the tests as root, e.g. in the CI container)` };
  for (const [bin, from] of [
    ['setpriv', 'util-linux'],
    ['runuser', 'util-linux'],
    ['openssl', 'openssl'],
  ] as const) {
    if (which(bin, SBIN) === undefined) return { ok: false, reason: `${bin} not found (apt-get install ${from})` };
  }
  if (systemUser(user) === undefined) return { ok: false, reason: `no system user ${user} (apt-get install ${pkg})` };
  return undefined;
}

/** Contract: ok when startPostgres can run here (Linux, root, a PostgreSQL server install, user postgres, setpriv/runuser/openssl); never throws, never spawns. */
export function postgresAvailable(): DatabaseCheck {
  if (postgresBinDir() === undefined) return { ok: false, reason: 'no PostgreSQL server: initdb/postgres not found (apt-get install postgresql)' };
  return commonCheck('PostgreSQL', 'postgres', 'postgresql') ?? { ok: true };
}

/** Contract: ok when startMariadb can run here (Linux, root, mariadbd, mariadb-install-db and the mariadb client, user mysql, setpriv/runuser/openssl); never throws, never spawns. */
export function mariadbAvailable(): DatabaseCheck {
  for (const bin of ['mariadbd', 'mariadb-install-db', 'mariadb']) {
    if (which(bin, SBIN) === undefined) return { ok: false, reason: `no MariaDB server: ${bin} not found (apt-get install mariadb-server)` };
  }
  return commonCheck('MariaDB', 'mysql', 'mariadb-server') ?? { ok: true };
}

/** Contract: a skip reason for node:test's `skip` option; undefined when ok, and ALWAYS undefined when CI=true (so CI fails loudly instead of skipping). */
export { skipReason } from './keyring.js';

// ---------------------------------------------------------------------------------------------
// Processes

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], opts: { cwd: string; input?: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: daemonEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? START_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function runOk(what: string, file: string, args: readonly string[], opts: { cwd: string; input?: string }): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    const out = `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(`${what} failed (${r.code ?? r.signal}):\n${out}`);
  }
  return r.stdout;
}

/** A small, predictable environment for the servers: no PG* / MYSQL_* variables, C locale. */
function daemonEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (exited(child)) return;
  child.ref();
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

// Safety net for a suite that throws or forgets stop(): on exit, kill what is left and delete the temp dirs.
const live = new Set<{ child: () => ChildProcess | undefined; signal: NodeJS.Signals; root: string }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      const c = s.child();
      if (c !== undefined && !exited(c)) {
        try {
          c.kill(s.signal);
        } catch {
          // already gone
        }
      }
      rmSync(s.root, { recursive: true, force: true });
    }
  });
}

/** A temp base every system user can traverse (and short enough for a unix socket path). */
function tempBase(): string {
  const t = tmpdir();
  if (t.length > 60) return '/tmp';
  for (let d = t; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return '/tmp';
    } catch {
      return '/tmp';
    }
    if (dirname(d) === d) return t;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

type Readiness = 'ready' | 'port-in-use';

/**
 * Spawns `argv` as `user` (setpriv, parent-death signal TERM) with stdout/stderr appended to `logPath`
 * and waits until `isReady(log)`; 'port-in-use' when the server exits because the port was taken.
 */
async function startDaemon(
  user: string,
  argv: readonly string[],
  cwd: string,
  logPath: string,
  readyLog: () => string,
  readyPattern: RegExp,
  portInUse: RegExp,
  onSpawn: (child: ChildProcess) => void,
): Promise<Readiness> {
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(which('setpriv', SBIN) ?? 'setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--pdeathsig', 'TERM', '--', ...argv], {
      cwd,
      env: daemonEnv(),
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  onSpawn(child);
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (spawnError !== undefined) throw spawnError;
    const log = readyLog();
    if (readyPattern.test(log)) return 'ready';
    if (exited(child)) {
      const all = `${log}\n${readText(logPath)}`;
      if (portInUse.test(all)) return 'port-in-use';
      throw new Error(`${argv[0]} exited during start (${child.exitCode ?? child.signalCode}):\n${tail(all)}`);
    }
    if (Date.now() > deadline) throw new Error(`${argv[0]} not ready within ${START_TIMEOUT_MS} ms:\n${tail(log)}`);
    await sleep(20);
  }
}

/** A self-signed certificate (EC P-256, SAN localhost + 127.0.0.1), key readable only by `owner`. */
async function makeCertificate(dir: string, owner: { uid: number; gid: number }): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  await runOk(
    'openssl req',
    which('openssl', SBIN) ?? 'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { cwd: dir },
  );
  chownSync(key, owner.uid, owner.gid);
  chownSync(cert, owner.uid, owner.gid);
  await chmod(key, 0o600);
  await chmod(cert, 0o644);
  return { cert, key };
}

function secretWord(): string {
  return randomBytes(18).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const PG_AUTH_FAILED = new Set(['28P01', '28000']);

async function pgConnect(port: number, user: string, password: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: HOST,
    port,
    user,
    password,
    database: 'postgres',
    ssl: false,
    connectionTimeoutMillis: CALL_TIMEOUT_MS,
    query_timeout: CALL_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}

function pgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function pgLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Contract: resolves once a fresh PostgreSQL cluster (initdb, superuser `postgres` with a random password,
 * password_encryption=scram-sha-256, pg_hba `host all all 127.0.0.1/32 scram-sha-256` and nothing else, no
 * unix socket, logging_collector=off with stderr to `logFile`) accepts the superuser over TCP on a free port;
 * rejects within ~30 s otherwise, leaving nothing behind.
 */
export async function startPostgres(opts?: PostgresOptions): Promise<DatabaseServer> {
  const check = postgresAvailable();
  if (!check.ok) throw new Error(check.reason);
  const bin = postgresBinDir() as string;
  const owner = systemUser('postgres') as { uid: number; gid: number };
  const root = await mkdtemp(join(tempBase(), 'secrets-pg-'));
  const data = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const superuser = { username: 'postgres', password: secretWord() };

  let child: ChildProcess | undefined;
  const entry = { child: (): ChildProcess | undefined => child, signal: 'SIGQUIT' as NodeJS.Signals, root };
  installExitHook();
  live.add(entry);
  const teardown = async (): Promise<void> => {
    // SIGQUIT: immediate shutdown (the postmaster takes its backends down with it); the data is thrown away anyway.
    if (child !== undefined) await terminate(child, 'SIGQUIT');
    live.delete(entry);
    await rm(root, { recursive: true, force: true });
  };

  let port = 0;
  let caFile: string | undefined;
  try {
    chownSync(root, owner.uid, owner.gid);
    await chmod(root, 0o700);
    const pwfile = join(root, 'pwfile');
    await writeFile(pwfile, `${superuser.password}\n`, { mode: 0o600 });
    chownSync(pwfile, owner.uid, owner.gid);
    await runOk(
      'initdb',
      which('runuser', SBIN) ?? 'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(bin, 'initdb'),
        '-D',
        data,
        '-U',
        'postgres',
        `--pwfile=${pwfile}`,
        '-A',
        'scram-sha-256',
        '-N',
        '-E',
        'UTF8',
        '--locale=C',
      ],
      { cwd: root },
    );
    await rm(pwfile, { force: true });
    // Only password logins over IPv4 loopback; no `local` lines (the unix socket is off), no trust anywhere.
    await writeFile(join(data, 'pg_hba.conf'), 'host all all 127.0.0.1/32 scram-sha-256\n');
    chownSync(join(data, 'pg_hba.conf'), owner.uid, owner.gid);

    const settings: Record<string, string> = {
      listen_addresses: HOST,
      unix_socket_directories: '',
      password_encryption: 'scram-sha-256',
      logging_collector: 'off',
      log_destination: 'stderr',
      log_statement: opts?.logStatementAll === false ? 'none' : 'all',
      log_connections: 'on',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: '16MB',
      max_connections: '30',
      ssl: 'off',
    };
    if (opts?.ssl === true) {
      const { cert, key } = await makeCertificate(root, owner);
      Object.assign(settings, { ssl: 'on', ssl_cert_file: cert, ssl_key_file: key });
      caFile = cert;
    }
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const argv = [join(bin, 'postgres'), '-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
      const before = readText(logFile).length;
      const state = await startDaemon(
        'postgres',
        argv,
        root,
        logFile,
        () => readText(logFile).slice(before),
        /database system is ready to accept connections/,
        /could not bind|Address already in use/,
        (c) => (child = c),
      );
      if (state === 'ready') break;
      if (attempt >= PORT_ATTEMPTS) throw new Error(`postgres: no free port after ${attempt} attempts`);
    }
    const probe = await pgConnect(port, superuser.username, superuser.password);
    await probe.end();
  } catch (e) {
    const log = tail(readText(logFile));
    await teardown();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`startPostgres: ${msg}${log === '' ? '' : `\n--- postgres log ---\n${log}`}`, { cause: e });
  }
  child?.unref();

  const query = async (sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]> => {
    const client = await pgConnect(port, superuser.username, superuser.password);
    try {
      await client.query("SET log_statement = 'none'");
      const r = await client.query<Record<string, unknown>>(sql, params === undefined ? undefined : [...params]);
      return r.rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  let stopping: Promise<void> | undefined;
  return {
    engine: 'postgres',
    host: HOST,
    port,
    superuser,
    logFile,
    caFile,
    async createUser(name: string, password: string): Promise<void> {
      await query(`CREATE ROLE ${pgIdent(name)} WITH LOGIN PASSWORD ${pgLiteral(password)}`);
    },
    async canLogin(user: string, password: string): Promise<boolean> {
      let client: pg.Client;
      try {
        client = await pgConnect(port, user, password);
      } catch (e) {
        if (PG_AUTH_FAILED.has((e as { code?: string }).code ?? '')) return false;
        throw e;
      }
      try {
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    query,
    readLog: () => readText(logFile),
    stop(): Promise<void> {
      stopping ??= teardown();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// MariaDB

const MYSQL_AUTH_FAILED = new Set([1045, 1698]);

async function myConnect(port: number, user: string, password: string): Promise<Connection> {
  const conn = await createConnection({ host: HOST, port, user, password, connectTimeout: CALL_TIMEOUT_MS });
  conn.on('error', () => undefined);
  return conn;
}

/**
 * Contract: resolves once a fresh MariaDB (mariadb-install-db; root by unix socket only; an `admin` with a random
 * password and ALL PRIVILEGES WITH GRANT OPTION on 127.0.0.1 and localhost, created through the socket as root)
 * accepts `admin` over TCP on a free port; the general query log goes to `logFile`. Rejects within ~30 s
 * otherwise, leaving nothing behind.
 */
export async function startMariadb(opts?: MariadbOptions): Promise<DatabaseServer> {
  const check = mariadbAvailable();
  if (!check.ok) throw new Error(check.reason);
  const owner = systemUser('mysql') as { uid: number; gid: number };
  const root = await mkdtemp(join(tempBase(), 'secrets-my-'));
  const data = join(root, 'data');
  const socket = join(root, 'mysqld.sock');
  const errorLog = join(root, 'error.log');
  const logFile = join(root, 'general.log');
  const superuser = { username: 'admin', password: secretWord() };

  let child: ChildProcess | undefined;
  // SIGKILL: mariadbd is one process and the data is thrown away; a clean InnoDB shutdown only costs time.
  const entry = { child: (): ChildProcess | undefined => child, signal: 'SIGKILL' as NodeJS.Signals, root };
  installExitHook();
  live.add(entry);
  const teardown = async (): Promise<void> => {
    if (child !== undefined) await terminate(child, 'SIGKILL');
    live.delete(entry);
    await rm(root, { recursive: true, force: true });
  };

  // Small InnoDB files: the default 100 MB redo log makes install-db take seconds longer.
  const innodb = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=4M', '--innodb-data-file-path=ibdata1:4M:autoextend'];
  let port = 0;
  let caFile: string | undefined;
  try {
    chownSync(root, owner.uid, owner.gid);
    await chmod(root, 0o700);
    // --no-defaults must come first: nothing from /etc/mysql applies. install-db runs as root and drops to --user.
    // Once seen failing for no visible reason (two installs in parallel, right after two PostgreSQL clusters
    // stopped); never reproduced. A second try on a clean data dir is cheap.
    for (let attempt = 1; ; attempt++) {
      try {
        await runOk(
          'mariadb-install-db',
          which('mariadb-install-db', SBIN) ?? 'mariadb-install-db',
          [
            '--no-defaults',
            '--user=mysql',
            `--datadir=${data}`,
            '--auth-root-authentication-method=socket',
            '--skip-test-db',
            '--skip-name-resolve',
            ...innodb,
          ],
          { cwd: root },
        );
        break;
      } catch (e) {
        if (attempt >= 2) throw e;
        await rm(data, { recursive: true, force: true });
      }
    }
    const args = [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--pid-file=${join(root, 'mysqld.pid')}`,
      `--log-error=${errorLog}`,
      `--bind-address=${HOST}`,
      '--skip-name-resolve',
      '--skip-log-bin',
      '--max-connections=50',
      ...innodb,
      ...(opts?.generalLog === false ? ['--general-log=0'] : ['--general-log=1', `--general-log-file=${logFile}`]),
    ];
    if (opts?.ssl === true) {
      const { cert, key } = await makeCertificate(root, owner);
      args.push(`--ssl-cert=${cert}`, `--ssl-key=${key}`);
      caFile = cert;
    }
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const before = readText(errorLog).length;
      // Started directly as `mysql` (no --user=mysql): mariadbd would setuid itself, which clears the parent-death signal.
      const state = await startDaemon(
        'mysql',
        [which('mariadbd', SBIN) ?? 'mariadbd', ...args, `--port=${port}`],
        root,
        join(root, 'stderr.log'),
        () => readText(errorLog).slice(before),
        /ready for connections/,
        /Bind on TCP\/IP port|Address already in use/,
        (c) => (child = c),
      );
      if (state === 'ready') break;
      if (attempt >= PORT_ATTEMPTS) throw new Error(`mariadbd: no free port after ${attempt} attempts`);
    }
    // root logs in by unix_socket (peer uid 0) through the socket; the admin gets a password for TCP.
    const pw = superuser.password; // hex: no quoting needed
    const sql = [
      'SET SESSION sql_log_off = 1;',
      ...['127.0.0.1', 'localhost'].flatMap((h) => [
        `CREATE USER 'admin'@'${h}' IDENTIFIED BY '${pw}';`,
        `GRANT ALL PRIVILEGES ON *.* TO 'admin'@'${h}' WITH GRANT OPTION;`,
      ]),
    ].join('\n');
    await runOk(
      'mariadb (create admin)',
      which('mariadb', SBIN) ?? 'mariadb',
      ['--no-defaults', '--protocol=socket', `--socket=${socket}`, '--user=root', '--batch'],
      {
        cwd: root,
        input: sql,
      },
    );
    const probe = await myConnect(port, superuser.username, superuser.password);
    await probe.end();
  } catch (e) {
    const log = tail(readText(errorLog));
    await teardown();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`startMariadb: ${msg}${log === '' ? '' : `\n--- mariadb error log ---\n${log}`}`, { cause: e });
  }
  child?.unref();

  const query = async (sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]> => {
    const conn = await myConnect(port, superuser.username, superuser.password);
    try {
      await conn.query('SET SESSION sql_log_off = 1');
      const [rows] = await conn.query<RowDataPacket[]>({ sql, timeout: CALL_TIMEOUT_MS }, params === undefined ? undefined : [...params]);
      return Array.isArray(rows) ? rows.map((r) => ({ ...r })) : [];
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  };

  let stopping: Promise<void> | undefined;
  return {
    engine: 'mariadb',
    host: HOST,
    port,
    superuser,
    logFile,
    caFile,
    async createUser(name: string, password: string): Promise<void> {
      await query('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', password]);
    },
    async canLogin(user: string, password: string): Promise<boolean> {
      let conn: Connection;
      try {
        conn = await myConnect(port, user, password);
      } catch (e) {
        if (MYSQL_AUTH_FAILED.has((e as { errno?: number }).errno ?? 0)) return false;
        throw e;
      }
      try {
        await conn.query('SELECT 1');
        return true;
      } finally {
        await conn.end().catch(() => conn.destroy());
      }
    },
    query,
    readLog: () => readText(logFile),
    stop(): Promise<void> {
      stopping ??= teardown();
      return stopping;
    },
  };
}
