// The postgres and mysql rotation handlers against real, throwaway servers (test/support/databases.ts):
// PostgreSQL 15+ and MariaDB on 127.0.0.1, each as its own system user. The handlers are driven directly
// with hand-built RotationRequests (the CLI's end-to-end rotation tests build on the same harness).
// Skips with a reason where the servers cannot be started (not root, not installed); under CI=true a
// missing server fails instead.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isSecretsError, type SecretsError } from '../src/core/errors.js';
import type { RotationHandler } from '../src/core/ports.js';
import type { PendingRequest, RotationConfig, RotationRequest, RotationStep } from '../src/core/rotation.js';
import { SecretBytes } from '../src/core/secret-bytes.js';
import { alternateUsername, baseUsername, defaultTlsMode, DB_EXCLUDED_CHARACTERS, isLoopbackHost, Redactor } from '../src/rotation/database.js';
import { MysqlRotation, mysqlNativePasswordHash, rewriteGrant } from '../src/rotation/mysql.js';
import { PostgresRotation, scramSha256Verifier } from '../src/rotation/postgres.js';
import { type DatabaseServer, mariadbAvailable, postgresAvailable, skipReason, startMariadb, startPostgres } from './support/databases.js';

// ---------------------------------------------------------------------------------------------
// Helpers

interface Values {
  current: string;
  pending?: string;
  previous?: string;
  master?: string;
}

function config(handler: string, strategy: RotationConfig['strategy'] = 'single-user', extra: Partial<RotationConfig> = {}): RotationConfig {
  return { handler, enabled: true, since: new Date().toISOString(), strategy, ...extra };
}

function request(step: RotationStep, cfg: RotationConfig, v: Values, notes: string[] = []): PendingRequest {
  const r: RotationRequest = {
    secretId: 'sec_test',
    name: 'db/app',
    token: 'tok_test',
    step,
    config: cfg,
    current: SecretBytes.fromString(v.current),
    ...(v.pending === undefined ? {} : { pending: SecretBytes.fromString(v.pending) }),
    ...(v.previous === undefined ? {} : { previous: SecretBytes.fromString(v.previous) }),
    ...(v.master === undefined ? {} : { master: SecretBytes.fromString(v.master) }),
    note: (m: string) => notes.push(m),
  };
  return r as PendingRequest; // createSecret ignores `pending`
}

/** Every step after createSecret, as the rotation use case runs them. */
async function rotate(h: RotationHandler, cfg: RotationConfig, v: Omit<Values, 'pending'>, notes: string[] = []): Promise<string> {
  const created = await h.createSecret(request('createSecret', cfg, v, notes));
  const pending = created.revealText() ?? assert.fail('createSecret returned non-text');
  const all = { ...v, pending };
  await h.setSecret(request('setSecret', cfg, all, notes));
  await h.testSecret(request('testSecret', cfg, all, notes));
  await h.finishSecret(request('finishSecret', cfg, all, notes));
  return pending;
}

function field(json: string, key: string): string {
  return String((JSON.parse(json) as Record<string, unknown>)[key]);
}

/** The three forms a leaked password would take in a log. */
function leakForms(password: string): string[] {
  return [password, Buffer.from(password).toString('hex'), Buffer.from(password).toString('base64')];
}

function assertNoLeak(text: string, passwords: readonly string[], where: string): void {
  for (const pw of passwords) {
    for (const form of leakForms(pw)) assert.ok(!text.includes(form), `${where} contains a password (or its hex/base64)`);
  }
}

/** Runs `fn`, expects a SecretsError with `code`, and checks its message and hint carry none of `passwords`. */
async function rejectsWith(fn: () => Promise<unknown>, code: SecretsError['code'], passwords: readonly string[], pattern?: RegExp): Promise<SecretsError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(isSecretsError(caught), `expected SecretsError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assertNoLeak(`${caught.message}\n${caught.hint ?? ''}\n${caught.stack ?? ''}`, passwords, `the ${code} error`);
  if (pattern !== undefined) assert.match(caught.message, pattern);
  return caught;
}

const unique = (() => {
  let n = 0;
  return (prefix: string): string => `${prefix}${++n}`;
})();

// ---------------------------------------------------------------------------------------------
// No server needed

describe('database rotation helpers', () => {
  test('loopback hosts default to sslmode disable, every other host to verify-full', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', 'LOCALHOST']) {
      assert.equal(isLoopbackHost(h), true, h);
      assert.equal(defaultTlsMode(h), 'disable');
    }
    for (const h of ['db.example.com', '10.0.0.1', '128.0.0.1', '::2', 'localhost.example.com']) {
      assert.equal(isLoopbackHost(h), false, h);
      assert.equal(defaultTlsMode(h), 'verify-full');
    }
  });

  test('alternating users toggle between base and base_clone', () => {
    assert.equal(alternateUsername('app'), 'app_clone');
    assert.equal(alternateUsername('app_clone'), 'app');
    assert.equal(baseUsername('app_clone'), 'app');
    assert.equal(baseUsername('_clone'), '_clone');
  });

  test('createSecret keeps every other field and the key order; excludes AWS RDS characters by default', async () => {
    const current = JSON.stringify({ engine: 'postgres', host: 'db.example', username: 'app', password: 'old', dbname: 'app', port: 5432, extra: { a: 1 } });
    for (let i = 0; i < 20; i++) {
      const next = (await new PostgresRotation().createSecret(request('createSecret', config('postgres'), { current }))).revealText() ?? '';
      const obj = JSON.parse(next) as Record<string, unknown>;
      assert.deepEqual(Object.keys(obj), ['engine', 'host', 'username', 'password', 'dbname', 'port', 'extra']);
      assert.deepEqual({ ...obj, password: 'old' }, JSON.parse(current));
      const pw = String(obj['password']);
      assert.equal(pw.length, 32);
      for (const c of DB_EXCLUDED_CHARACTERS) assert.ok(!pw.includes(c), `generated password contains ${c}`);
    }
    const alt =
      (
        await new MysqlRotation().createSecret(request('createSecret', config('mysql', 'alternating-users'), { current: current.replace('postgres', 'mysql') }))
      ).revealText() ?? '';
    assert.equal(field(alt, 'username'), 'app_clone');
    const custom = config('postgres', 'single-user', { random: { length: 12, excludePunctuation: true } });
    const short = (await new PostgresRotation().createSecret(request('createSecret', custom, { current }))).revealText() ?? '';
    assert.match(field(short, 'password'), /^[A-Za-z0-9]{12}$/);
  });

  test('malformed values are INVALID_VALUE, without the value in the message', async () => {
    const secret = 'hunter2-not-json';
    await rejectsWith(() => new PostgresRotation().createSecret(request('createSecret', config('postgres'), { current: secret })), 'INVALID_VALUE', [secret]);
    await rejectsWith(
      () => new MysqlRotation().createSecret(request('createSecret', config('mysql'), { current: JSON.stringify({ host: 'h', password: 'pw1' }) })),
      'INVALID_VALUE',
      ['pw1'],
      /username/,
    );
    await rejectsWith(
      () =>
        new PostgresRotation().createSecret(
          request('createSecret', config('postgres'), { current: JSON.stringify({ engine: 'mysql', host: 'h', username: 'u', password: 'pw1' }) }),
        ),
      'INVALID_VALUE',
      ['pw1'],
      /engine/,
    );
    await rejectsWith(
      () =>
        new PostgresRotation().createSecret(
          request('createSecret', config('postgres'), { current: JSON.stringify({ host: 'h', username: 'u', password: 'pw1', port: 99999 }) }),
        ),
      'INVALID_VALUE',
      ['pw1'],
      /port/,
    );
  });

  test('sslmode prefer/allow and ssl "preferred" are refused (they downgrade silently)', async () => {
    for (const sslmode of ['prefer', 'allow', 'PREFER', 'bogus']) {
      const current = JSON.stringify({ host: '127.0.0.1', username: 'u', password: 'pw-x1', sslmode });
      await rejectsWith(
        () => new PostgresRotation().createSecret(request('createSecret', config('postgres'), { current })),
        'INVALID_VALUE',
        ['pw-x1'],
        /sslmode/,
      );
    }
    for (const ssl of ['prefer', 'preferred', 'PREFERRED', 1]) {
      const current = JSON.stringify({ host: '127.0.0.1', username: 'u', password: 'pw-x1', ssl });
      await rejectsWith(() => new MysqlRotation().createSecret(request('createSecret', config('mysql'), { current })), 'INVALID_VALUE', ['pw-x1'], /ssl/);
    }
  });

  test('PostgreSQL role names longer than 63 bytes are refused before anything changes', async () => {
    const current = JSON.stringify({ host: '127.0.0.1', username: 'u'.repeat(60), password: 'pw' });
    await rejectsWith(
      () => new PostgresRotation().createSecret(request('createSecret', config('postgres', 'alternating-users'), { current })),
      'INVALID_VALUE',
      ['pw'],
      /63/,
    );
  });

  test('non-ASCII PostgreSQL passwords are refused (no SASLprep)', () => {
    assert.throws(
      () => scramSha256Verifier('pässwort'),
      (e: unknown) => isSecretsError(e) && e.code === 'INVALID_VALUE',
    );
    assert.match(scramSha256Verifier('pencil'), /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  });

  test('the redactor removes passwords and their SQL/JSON-escaped forms', () => {
    const r = new Redactor().add('it\'s\\a "pw"');
    const out = r.redact(`near 'it''s\\a "pw"' or 'it\\'s\\\\a \\"pw\\"' or "it's\\\\a \\"pw\\""`);
    assert.ok(!out.includes('pw'), out);
  });

  test('SHOW GRANTS lines are rewritten for the clone without authentication clauses', () => {
    const base = { user: 'app', host: '%' };
    const clone = "'app_clone'@'%'";
    assert.equal(rewriteGrant("GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'", base, clone), undefined);
    assert.equal(rewriteGrant('GRANT SELECT, INSERT ON `appdb`.* TO `app`@`%`', base, clone), "GRANT SELECT, INSERT ON `appdb`.* TO 'app_clone'@'%'");
    assert.equal(
      rewriteGrant("GRANT RELOAD ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB' WITH GRANT OPTION", base, clone),
      "GRANT RELOAD ON *.* TO 'app_clone'@'%' WITH GRANT OPTION",
    );
    assert.equal(rewriteGrant('GRANT `r1` TO `app`@`%` WITH ADMIN OPTION', base, clone), "GRANT `r1` TO 'app_clone'@'%' WITH ADMIN OPTION");
    assert.equal(rewriteGrant('SET DEFAULT ROLE `r1` FOR `app`@`%`', base, clone), "SET DEFAULT ROLE `r1` FOR 'app_clone'@'%'");
    assert.equal(rewriteGrant('GRANT SELECT ON `x`.* TO `other`@`%`', base, clone), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const pgSkip = skipReason(postgresAvailable());

function pgSecret(db: DatabaseServer, username: string, password: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ engine: 'postgres', host: db.host, port: db.port, username, password, dbname: 'postgres', ...extra });
}

describe('postgres handler against a real PostgreSQL', { skip: pgSkip }, () => {
  let db: DatabaseServer;
  let tlsDb: DatabaseServer;
  const pgh = new PostgresRotation();

  before(async () => {
    [db, tlsDb] = await Promise.all([startPostgres(), startPostgres({ ssl: true })]);
  });
  after(async () => {
    await Promise.all([db?.stop(), tlsDb?.stop()]);
  });

  test('our SCRAM-SHA-256 verifier is byte for byte what the server stores', async () => {
    const user = unique('scram');
    const pw = 'pencil-Zx9!';
    await db.createUser(user, pw);
    const [row] = await db.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [user]);
    const stored = String(row?.['rolpassword']);
    const salt = Buffer.from(/^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(stored)?.[1] ?? '', 'base64');
    assert.equal(salt.length, 16);
    assert.equal(scramSha256Verifier(pw, salt), stored);
  });

  test('single-user: the new password logs in, the old one no longer does, and it never reaches the log', async () => {
    const user = unique('single');
    const oldPw = 'Old-pass-1';
    await db.createUser(user, oldPw);
    const current = pgSecret(db, user, oldPw);
    const cfg = config('postgres');
    const notes: string[] = [];
    const logBefore = db.readLog().length;
    const pending = await rotate(pgh, cfg, { current }, notes);
    const newPw = field(pending, 'password');
    assert.notEqual(newPw, oldPw);
    assert.equal(field(pending, 'username'), user);
    assert.equal(await db.canLogin(user, oldPw), false);
    assert.equal(await db.canLogin(user, newPw), true);

    // Idempotent: setSecret again (a resumed rotation) changes nothing.
    const [{ rolpassword: verifier1 } = {}] = await db.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [user]);
    const again: string[] = [];
    await pgh.setSecret(request('setSecret', cfg, { current, pending }, again));
    assert.match(again.join('\n'), /already works/);
    const [{ rolpassword: verifier2 } = {}] = await db.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [user]);
    assert.equal(verifier2, verifier1);
    assert.equal(await db.canLogin(user, newPw), true);

    // log_statement=all recorded the ALTER ROLE — with the verifier, never the password.
    const log = db.readLog().slice(logBefore);
    assert.match(log, /statement: ALTER ROLE "single\d+" PASSWORD 'SCRAM-SHA-256\$4096:/);
    assertNoLeak(log, [newPw], 'the PostgreSQL log');
  });

  test('single-user: when CURRENT no longer logs in, PREVIOUS is used', async () => {
    const user = unique('prev');
    const realPw = 'Real-pass-1';
    await db.createUser(user, realPw);
    const v = { current: pgSecret(db, user, 'Stale-pass-1'), previous: pgSecret(db, user, realPw) };
    const notes: string[] = [];
    const pending = await rotate(pgh, config('postgres'), v, notes);
    assert.match(notes.join('\n'), /PREVIOUS/);
    assert.equal(await db.canLogin(user, field(pending, 'password')), true);
    assert.equal(await db.canLogin(user, realPw), false);
  });

  test('single-user: no working credentials is ROTATION_FAILED, and no password is in the error', async () => {
    const user = unique('nologin');
    await db.createUser(user, 'Actual-pass-1');
    const current = pgSecret(db, user, 'Wrong-pass-1');
    const previous = pgSecret(db, user, 'Wrong-pass-2');
    const pending = pgSecret(db, user, 'Pending-pass-1');
    const cfg = config('postgres');
    await rejectsWith(
      () => pgh.setSecret(request('setSecret', cfg, { current, previous, pending })),
      'ROTATION_FAILED',
      ['Wrong-pass-1', 'Wrong-pass-2', 'Pending-pass-1', 'Actual-pass-1'],
      /CURRENT or PREVIOUS/,
    );
    await rejectsWith(() => pgh.testSecret(request('testSecret', cfg, { current, pending })), 'ROTATION_FAILED', ['Wrong-pass-1', 'Pending-pass-1'], /PENDING/);
    assert.equal(await db.canLogin(user, 'Actual-pass-1'), true);
  });

  test('single-user: a PENDING username other than CURRENT is refused', async () => {
    const current = pgSecret(db, 'a', 'pw-a1');
    const pending = pgSecret(db, 'b', 'pw-b1');
    await rejectsWith(() => pgh.setSecret(request('setSecret', config('postgres'), { current, pending })), 'INVALID_VALUE', ['pw-a1', 'pw-b1']);
  });

  test("alternating-users: the clone is created with the base user's privileges; the previous user keeps working; the next rotation alternates back", async () => {
    const base = unique('alt');
    const basePw = 'Base-pass-1';
    await db.createUser(base, basePw);
    await db.query(`CREATE TABLE ${base}_t (x int)`);
    await db.query(`INSERT INTO ${base}_t VALUES (42)`);
    await db.query(`GRANT SELECT ON ${base}_t TO ${base}`);
    const master = JSON.stringify({ username: db.superuser.username, password: db.superuser.password });
    const cfg = config('postgres', 'alternating-users', { master: 'db/master' });
    const logBefore = db.readLog().length;

    const first = await rotate(pgh, cfg, { current: pgSecret(db, base, basePw), master });
    assert.equal(field(first, 'username'), `${base}_clone`);
    const clonePw = field(first, 'password');
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), true);
    assert.equal(await db.canLogin(base, basePw), true, 'the previous user keeps working');
    const [member] = await db.query('SELECT pg_has_role($1, $2, $3) AS m', [`${base}_clone`, base, 'USAGE']);
    assert.equal(member?.['m'], true);
    // The clone can read what base can.
    const { default: pg } = await import('pg');
    const c = new pg.Client({ host: db.host, port: db.port, user: `${base}_clone`, password: clonePw, database: 'postgres', ssl: false });
    await c.connect();
    try {
      assert.equal((await c.query<{ x: number }>(`SELECT x FROM ${base}_t`)).rows[0]?.x, 42);
    } finally {
      await c.end();
    }

    // Resume: setSecret again is a no-op.
    const notes: string[] = [];
    await pgh.setSecret(request('setSecret', cfg, { current: pgSecret(db, base, basePw), pending: first, master }, notes));
    assert.match(notes.join('\n'), /already works/);

    const second = await rotate(pgh, cfg, { current: first, previous: pgSecret(db, base, basePw), master });
    assert.equal(field(second, 'username'), base);
    const base2 = field(second, 'password');
    assert.equal(await db.canLogin(base, base2), true);
    assert.equal(await db.canLogin(base, basePw), false);
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), true, 'the previous (clone) user keeps working');

    const third = await rotate(pgh, cfg, { current: second, previous: first, master });
    assert.equal(field(third, 'username'), `${base}_clone`);
    assert.equal(await db.canLogin(`${base}_clone`, field(third, 'password')), true);
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), false);
    assert.equal(await db.canLogin(base, base2), true);

    const log = db.readLog().slice(logBefore);
    assert.match(log, /CREATE ROLE "alt\d+_clone" WITH LOGIN PASSWORD 'SCRAM-SHA-256\$/);
    assertNoLeak(log, [clonePw, base2, field(third, 'password')], 'the PostgreSQL log');
  });

  test('alternating-users: no master value is INVALID_VALUE; a wrong master password is ROTATION_FAILED without it', async () => {
    const base = unique('altm');
    await db.createUser(base, 'Base-pass-2');
    const cfg = config('postgres', 'alternating-users', { master: 'db/master' });
    const current = pgSecret(db, base, 'Base-pass-2');
    const pending = pgSecret(db, `${base}_clone`, 'Clone-pass-2');
    await rejectsWith(() => pgh.setSecret(request('setSecret', cfg, { current, pending })), 'INVALID_VALUE', ['Base-pass-2', 'Clone-pass-2'], /master/);
    const master = JSON.stringify({ username: db.superuser.username, password: 'Bad-master-pw' });
    await rejectsWith(
      () => pgh.setSecret(request('setSecret', cfg, { current, pending, master })),
      'ROTATION_FAILED',
      ['Base-pass-2', 'Clone-pass-2', 'Bad-master-pw', db.superuser.password],
      /master user/,
    );
    assert.equal(await db.canLogin(`${base}_clone`, 'Clone-pass-2'), false);
  });

  test('sslmode=require against a TLS server works, over TLS', async () => {
    const user = unique('tls');
    await tlsDb.createUser(user, 'Tls-pass-1');
    const logBefore = tlsDb.readLog().length;
    const pending = await rotate(pgh, config('postgres'), { current: pgSecret(tlsDb, user, 'Tls-pass-1', { sslmode: 'require' }) });
    assert.equal(await tlsDb.canLogin(user, field(pending, 'password')), true);
    assert.match(tlsDb.readLog().slice(logBefore), new RegExp(`connection authorized: user=${user} database=postgres.*SSL enabled`));
  });

  test('sslmode=verify-full with sslrootcert checks the certificate; without the root it fails', async () => {
    const user = unique('verify');
    await tlsDb.createUser(user, 'Verify-pass-1');
    const ca = tlsDb.caFile ?? assert.fail('no CA file');
    const pending = await rotate(pgh, config('postgres'), { current: pgSecret(tlsDb, user, 'Verify-pass-1', { sslmode: 'verify-full', sslrootcert: ca }) });
    assert.equal(await tlsDb.canLogin(user, field(pending, 'password')), true);
    const untrusted = JSON.stringify({ ...JSON.parse(pending), sslmode: 'verify-full', sslrootcert: undefined });
    await rejectsWith(
      () => pgh.testSecret(request('testSecret', config('postgres'), { current: untrusted, pending: untrusted })),
      'ROTATION_FAILED',
      [field(pending, 'password')],
      /certificate/,
    );
  });

  test('sslmode=require against a server without TLS fails (no silent downgrade)', async () => {
    const user = unique('notls');
    await db.createUser(user, 'NoTls-pass-1');
    const current = pgSecret(db, user, 'NoTls-pass-1', { sslmode: 'require' });
    const cfg = config('postgres');
    const pending = (await pgh.createSecret(request('createSecret', cfg, { current }))).revealText() ?? '';
    const err = await rejectsWith(() => pgh.setSecret(request('setSecret', cfg, { current, pending })), 'ROTATION_FAILED', [
      'NoTls-pass-1',
      field(pending, 'password'),
    ]);
    assert.match(err.message, /SSL/i);
    await rejectsWith(() => pgh.testSecret(request('testSecret', cfg, { current, pending: current })), 'ROTATION_FAILED', ['NoTls-pass-1'], /SSL/i);
    assert.equal(await db.canLogin(user, 'NoTls-pass-1'), true, 'nothing changed');
  });

  test('sslmode=prefer is refused before connecting', async () => {
    const user = unique('prefer');
    await db.createUser(user, 'Prefer-pass-1');
    const current = pgSecret(db, user, 'Prefer-pass-1', { sslmode: 'prefer' });
    const pending = pgSecret(db, user, 'Prefer-pass-2', { sslmode: 'prefer' });
    await rejectsWith(
      () => pgh.setSecret(request('setSecret', config('postgres'), { current, pending })),
      'INVALID_VALUE',
      ['Prefer-pass-1', 'Prefer-pass-2'],
      /prefer/,
    );
    assert.equal(await db.canLogin(user, 'Prefer-pass-1'), true);
  });
});

// ---------------------------------------------------------------------------------------------
// MariaDB

const mySkip = skipReason(mariadbAvailable());

function mySecret(db: DatabaseServer, username: string, password: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ engine: 'mysql', host: db.host, port: db.port, username, password, ...extra });
}

describe('mysql handler against a real MariaDB', { skip: mySkip }, () => {
  let db: DatabaseServer;
  let tlsDb: DatabaseServer;
  const myh = new MysqlRotation();

  before(async () => {
    [db, tlsDb] = await Promise.all([startMariadb(), startMariadb({ ssl: true })]);
  });
  after(async () => {
    await Promise.all([db?.stop(), tlsDb?.stop()]);
  });

  test("our mysql_native_password hash is the server's PASSWORD()", async () => {
    const [row] = await db.query('SELECT PASSWORD(?) AS h', ['pencil-Zx9!']);
    assert.equal(mysqlNativePasswordHash('pencil-Zx9!'), row?.['h']);
  });

  test('single-user: the new password logs in, the old one no longer does, and it never reaches the general log', async () => {
    const user = unique('single');
    const oldPw = 'Old-pass-1';
    await db.createUser(user, oldPw);
    const current = mySecret(db, user, oldPw);
    const cfg = config('mysql');
    const logBefore = db.readLog().length;
    const notes: string[] = [];
    const pending = await rotate(myh, cfg, { current }, notes);
    const newPw = field(pending, 'password');
    assert.equal(await db.canLogin(user, oldPw), false);
    assert.equal(await db.canLogin(user, newPw), true);
    assert.doesNotMatch(notes.join('\n'), /in clear/);

    const again: string[] = [];
    await myh.setSecret(request('setSecret', cfg, { current, pending }, again));
    assert.match(again.join('\n'), /already works/);
    assert.equal(await db.canLogin(user, newPw), true);

    const log = db.readLog().slice(logBefore);
    assert.match(log, /SET PASSWORD = '\*[0-9A-F]{40}'/);
    assertNoLeak(log, [newPw], 'the MariaDB general log');
  });

  test('single-user: an account that is not plain mysql_native_password falls back to SET PASSWORD, with a note', async () => {
    const user = unique('via');
    await db.query("CREATE USER ?@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('Via-pass-1') OR unix_socket", [user]);
    const notes: string[] = [];
    const pending = await rotate(myh, config('mysql'), { current: mySecret(db, user, 'Via-pass-1') }, notes);
    assert.match(notes.join('\n'), /in clear/);
    assert.equal(await db.canLogin(user, field(pending, 'password')), true);
    assert.equal(await db.canLogin(user, 'Via-pass-1'), false);
  });

  test('single-user: no working credentials is ROTATION_FAILED, and no password is in the error', async () => {
    const user = unique('nologin');
    await db.createUser(user, 'Actual-pass-1');
    const current = mySecret(db, user, 'Wrong-pass-1');
    const previous = mySecret(db, user, 'Wrong-pass-2');
    const pending = mySecret(db, user, 'Pending-pass-1');
    const cfg = config('mysql');
    await rejectsWith(
      () => myh.setSecret(request('setSecret', cfg, { current, previous, pending })),
      'ROTATION_FAILED',
      ['Wrong-pass-1', 'Wrong-pass-2', 'Pending-pass-1', 'Actual-pass-1'],
      /CURRENT or PREVIOUS/,
    );
    await rejectsWith(() => myh.testSecret(request('testSecret', cfg, { current, pending })), 'ROTATION_FAILED', ['Pending-pass-1'], /PENDING/);
  });

  test('single-user: when CURRENT no longer logs in, PREVIOUS is used', async () => {
    const user = unique('prev');
    await db.createUser(user, 'Real-pass-1');
    const notes: string[] = [];
    const pending = await rotate(myh, config('mysql'), { current: mySecret(db, user, 'Stale-pass-1'), previous: mySecret(db, user, 'Real-pass-1') }, notes);
    assert.match(notes.join('\n'), /PREVIOUS/);
    assert.equal(await db.canLogin(user, field(pending, 'password')), true);
  });

  test("alternating-users: the clone gets the base user's grants; the previous user keeps working; the next rotation alternates back", async () => {
    const base = unique('alt');
    const basePw = 'Base-pass-1';
    await db.createUser(base, basePw);
    await db.query(`CREATE DATABASE ${base}_db`);
    await db.query(`CREATE TABLE ${base}_db.t (x int)`);
    await db.query(`INSERT INTO ${base}_db.t VALUES (42)`);
    await db.query(`GRANT SELECT ON ${base}_db.* TO ?@'%'`, [base]);
    const master = JSON.stringify({ username: db.superuser.username, password: db.superuser.password });
    const cfg = config('mysql', 'alternating-users', { master: 'db/master' });
    const logBefore = db.readLog().length;

    const first = await rotate(myh, cfg, { current: mySecret(db, base, basePw), master });
    assert.equal(field(first, 'username'), `${base}_clone`);
    const clonePw = field(first, 'password');
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), true);
    assert.equal(await db.canLogin(base, basePw), true, 'the previous user keeps working');
    const grants = (await db.query("SHOW GRANTS FOR ?@'%'", [`${base}_clone`])).map((r) => String(Object.values(r)[0]));
    assert.ok(
      grants.some((g) => g.startsWith(`GRANT SELECT ON \`${base}_db\`.*`)),
      grants.join('\n'),
    );
    const { createConnection } = await import('mysql2/promise');
    const conn = await createConnection({ host: db.host, port: db.port, user: `${base}_clone`, password: clonePw });
    try {
      const [rows] = await conn.query(`SELECT x FROM ${base}_db.t`);
      assert.deepEqual(rows, [{ x: 42 }]);
    } finally {
      await conn.end();
    }

    const notes: string[] = [];
    await myh.setSecret(request('setSecret', cfg, { current: mySecret(db, base, basePw), pending: first, master }, notes));
    assert.match(notes.join('\n'), /already works/);

    const second = await rotate(myh, cfg, { current: first, previous: mySecret(db, base, basePw), master });
    assert.equal(field(second, 'username'), base);
    const base2 = field(second, 'password');
    assert.equal(await db.canLogin(base, base2), true);
    assert.equal(await db.canLogin(base, basePw), false);
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), true, 'the previous (clone) user keeps working');

    const third = await rotate(myh, cfg, { current: second, previous: first, master });
    assert.equal(field(third, 'username'), `${base}_clone`);
    assert.equal(await db.canLogin(`${base}_clone`, field(third, 'password')), true);
    assert.equal(await db.canLogin(`${base}_clone`, clonePw), false);
    assert.equal(await db.canLogin(base, base2), true);

    assertNoLeak(db.readLog().slice(logBefore), [clonePw, base2, field(third, 'password')], 'the MariaDB general log');
  });

  test('alternating-users: a clone left half-made by a crash (no grants, unknown password) is completed', async () => {
    const base = unique('crash');
    await db.createUser(base, 'Base-pass-3');
    await db.query(`CREATE DATABASE ${base}_db`);
    await db.query(`GRANT SELECT ON ${base}_db.* TO ?@'%'`, [base]);
    await db.query("CREATE USER ?@'%' IDENTIFIED BY 'whatever-Throwaway-1'", [`${base}_clone`]);
    const master = JSON.stringify({ username: db.superuser.username, password: db.superuser.password });
    const pending = await rotate(myh, config('mysql', 'alternating-users'), { current: mySecret(db, base, 'Base-pass-3'), master });
    assert.equal(await db.canLogin(`${base}_clone`, field(pending, 'password')), true);
    const grants = (await db.query("SHOW GRANTS FOR ?@'%'", [`${base}_clone`])).map((r) => String(Object.values(r)[0]));
    assert.ok(
      grants.some((g) => g.startsWith(`GRANT SELECT ON \`${base}_db\`.*`)),
      grants.join('\n'),
    );
  });

  test('alternating-users: a wrong master password is ROTATION_FAILED without any password in it', async () => {
    const base = unique('altm');
    await db.createUser(base, 'Base-pass-2');
    const cfg = config('mysql', 'alternating-users');
    const master = JSON.stringify({ username: db.superuser.username, password: 'Bad-master-pw' });
    await rejectsWith(
      () =>
        myh.setSecret(
          request('setSecret', cfg, { current: mySecret(db, base, 'Base-pass-2'), pending: mySecret(db, `${base}_clone`, 'Clone-pass-2'), master }),
        ),
      'ROTATION_FAILED',
      ['Base-pass-2', 'Clone-pass-2', 'Bad-master-pw', db.superuser.password],
      /master user/,
    );
  });

  test('ssl=require against a TLS server works, over TLS', async () => {
    const user = unique('tls');
    await tlsDb.createUser(user, 'Tls-pass-1');
    const pending = await rotate(myh, config('mysql'), { current: mySecret(tlsDb, user, 'Tls-pass-1', { ssl: 'require' }) });
    assert.equal(await tlsDb.canLogin(user, field(pending, 'password')), true);
    const [row] = await tlsDb.query("SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SSL_ACCEPTS'");
    assert.ok(Number(row?.['v']) > 0, 'the server accepted TLS connections');
  });

  test('ssl=verify-full with sslrootcert checks the certificate; without the root it fails', async () => {
    const user = unique('verify');
    await tlsDb.createUser(user, 'Verify-pass-1');
    const ca = tlsDb.caFile ?? assert.fail('no CA file');
    const pending = await rotate(myh, config('mysql'), { current: mySecret(tlsDb, user, 'Verify-pass-1', { ssl: 'verify-full', sslrootcert: ca }) });
    assert.equal(await tlsDb.canLogin(user, field(pending, 'password')), true);
    const untrusted = JSON.stringify({ ...JSON.parse(pending), sslrootcert: undefined });
    await rejectsWith(
      () => myh.testSecret(request('testSecret', config('mysql'), { current: untrusted, pending: untrusted })),
      'ROTATION_FAILED',
      [field(pending, 'password')],
      /certificate/,
    );
  });

  test('ssl=require against a server without TLS fails (no silent downgrade)', async () => {
    const user = unique('notls');
    await db.createUser(user, 'NoTls-pass-1');
    const current = mySecret(db, user, 'NoTls-pass-1', { ssl: true });
    const cfg = config('mysql');
    const pending = (await myh.createSecret(request('createSecret', cfg, { current }))).revealText() ?? '';
    await rejectsWith(
      () => myh.setSecret(request('setSecret', cfg, { current, pending })),
      'ROTATION_FAILED',
      ['NoTls-pass-1', field(pending, 'password')],
      /secure|SSL|TLS/i,
    );
    assert.equal(await db.canLogin(user, 'NoTls-pass-1'), true, 'nothing changed');
  });

  test('ssl=prefer is refused before connecting', async () => {
    const current = mySecret(db, 'u', 'Prefer-pass-1', { ssl: 'preferred' });
    await rejectsWith(() => myh.setSecret(request('setSecret', config('mysql'), { current, pending: current })), 'INVALID_VALUE', ['Prefer-pass-1'], /ssl/);
  });
});
