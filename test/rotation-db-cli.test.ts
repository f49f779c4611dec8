/**
 * Rotation against real databases through the built binary: `secrets rotate` with the postgres
 * and mysql handlers on throwaway PostgreSQL and MariaDB servers (test/support/databases.ts),
 * single-user and alternating users, the server log checked for the new password, and SIGKILL
 * at every step of a PostgreSQL rotation followed by a re-run. Under CI=true a server that
 * cannot start fails the run; elsewhere the suite skips with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CliResult, initialisedSandbox, type Sandbox } from './support/cli.js';
import { type DatabaseServer, mariadbAvailable, postgresAvailable, skipReason, startMariadb, startPostgres } from './support/databases.js';

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

interface Credentials {
  username: string;
  password: string;
}

async function json(sb: Sandbox, name: string, stage = 'CURRENT'): Promise<Credentials> {
  return JSON.parse(await sb.ok(['get', name, '--version-stage', stage])) as Credentials;
}

async function hasStage(sb: Sandbox, name: string, stage: string): Promise<boolean> {
  const v = JSON.parse(await sb.ok(['versions', name, '--json'])) as { Versions: { VersionStages: string[] }[] };
  return v.Versions.some((x) => x.VersionStages.includes(stage));
}

function encodings(text: string): string[] {
  return [text, Buffer.from(text).toString('hex'), Buffer.from(text).toString('base64')];
}

function secretFor(db: DatabaseServer, engine: 'postgres' | 'mysql', username: string, password: string): string {
  return JSON.stringify({
    engine,
    host: db.host,
    port: db.port,
    username,
    password,
    ...(engine === 'postgres' ? { dbname: 'postgres', sslmode: 'disable' } : {}),
  });
}

const pgSkip = skipReason(postgresAvailable());
const mariaSkip = skipReason(mariadbAvailable());

describe('rotation against a real PostgreSQL', { skip: pgSkip }, () => {
  let db: DatabaseServer;
  let sb: Sandbox;
  before(async () => {
    db = await startPostgres({ logStatementAll: true });
    sb = await initialisedSandbox();
  });
  after(async () => {
    sb?.cleanup();
    await db?.stop();
  });

  it('single-user: the old password stops working, the new one works, and never reaches the server log', async () => {
    await db.createUser('app_single', 'first-Password-1');
    await sb.ok(['create', 'pg/single', '--value-stdin'], { input: secretFor(db, 'postgres', 'app_single', 'first-Password-1') });
    const r = await sb.run(['rotate', 'pg/single', '--handler', 'postgres', '--every', '30']);
    assert.equal(r.code, 0, explain('rotate', r));
    const now = await json(sb, 'pg/single');
    assert.equal(now.username, 'app_single');
    assert.notEqual(now.password, 'first-Password-1');
    assert.equal(await db.canLogin('app_single', now.password), true, 'the new password logs in');
    assert.equal(await db.canLogin('app_single', 'first-Password-1'), false, 'the old one no longer does');
    assert.equal((await json(sb, 'pg/single', 'PREVIOUS')).password, 'first-Password-1');
    const log = db.readLog();
    assert.match(log, /ALTER ROLE/, 'log_statement=all logged the change');
    for (const enc of encodings(now.password)) assert.ok(!log.includes(enc), 'the new password is not in the server log');
    assert.match(log, /SCRAM-SHA-256\$4096:/, 'a verifier was sent instead');
  });

  it('alternating users: the previous user keeps working, and the next rotation alternates back', async () => {
    await db.createUser('app_alt', 'alt-Password-0');
    await db.query('GRANT pg_read_all_data TO app_alt');
    await sb.ok(['create', 'pg/master', '--value-stdin'], { input: JSON.stringify({ username: db.superuser.username, password: db.superuser.password }) });
    await sb.ok(['create', 'pg/alt', '--value-stdin'], { input: secretFor(db, 'postgres', 'app_alt', 'alt-Password-0') });
    const r = await sb.run(['rotate', 'pg/alt', '--handler', 'postgres', '--strategy', 'alternating-users', '--master-secret', 'pg/master']);
    assert.equal(r.code, 0, explain('rotate', r));
    const first = await json(sb, 'pg/alt');
    assert.equal(first.username, 'app_alt_clone');
    assert.equal(await db.canLogin('app_alt_clone', first.password), true);
    assert.equal(await db.canLogin('app_alt', 'alt-Password-0'), true, 'the previous user still logs in');
    const member = await db.query("SELECT pg_has_role('app_alt_clone', 'pg_read_all_data', 'USAGE') AS ok");
    assert.equal(member[0]?.['ok'], true, 'the clone has the privileges of the user it clones');

    const again = await sb.run(['rotate', 'pg/alt']);
    assert.equal(again.code, 0, explain('rotate again', again));
    const second = await json(sb, 'pg/alt');
    assert.equal(second.username, 'app_alt');
    assert.equal(await db.canLogin('app_alt', second.password), true);
    assert.equal(await db.canLogin('app_alt', 'alt-Password-0'), false, "the base user's old password is gone");
    assert.equal(await db.canLogin('app_alt_clone', first.password), true, 'the clone, now PREVIOUS, still logs in');
    for (const enc of encodings(second.password)) assert.ok(!db.readLog().includes(enc));
  });

  it('a wrong CURRENT password fails at setSecret with exit 9 and no password in the message', async () => {
    await db.createUser('app_wrong', 'real-Password-9');
    await sb.ok(['create', 'pg/wrong', '--value-stdin'], { input: secretFor(db, 'postgres', 'app_wrong', 'not-the-Password') });
    const r = await sb.run(['rotate', 'pg/wrong', '--handler', 'postgres']);
    assert.equal(r.code, 9, explain('rotate', r));
    assert.match(r.stderr, /failed at setSecret/);
    assert.ok(!r.stderr.includes('not-the-Password') && !r.stderr.includes('real-Password-9'));
    assert.equal(await db.canLogin('app_wrong', 'real-Password-9'), true, 'nothing changed on the server');
  });

  describe('SIGKILL at every step, then a re-run', () => {
    const points = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].flatMap((s) => [`${s}:before`, `${s}:after`]);
    points.forEach((point, i) => {
      it(`killed at ${point}: the password the server accepts is CURRENT or PENDING; the re-run completes`, async () => {
        const user = `app_kill_${i}`;
        const name = `pg/kill-${i}`;
        await db.createUser(user, `kill-Password-${i}`);
        await sb.ok(['create', name, '--value-stdin'], { input: secretFor(db, 'postgres', user, `kill-Password-${i}`) });
        await sb.ok(['rotate', name, '--handler', 'postgres', '--no-rotate-now']);
        const killed = await sb.run(['rotate', name], { env: { SECRETS_FAULT_KILL: point } });
        assert.equal(killed.signal, 'SIGKILL', explain('killed', killed));

        const current = await json(sb, name);
        const pending = (await hasStage(sb, name, 'PENDING')) ? await json(sb, name, 'PENDING') : undefined;
        const currentWorks = await db.canLogin(user, current.password);
        const pendingWorks = pending !== undefined && (await db.canLogin(user, pending.password));
        assert.ok(currentWorks || pendingWorks, 'a working password is in the vault');
        const applied = ['setSecret:after', 'testSecret:before', 'testSecret:after', 'finishSecret:before'].includes(point);
        if (!applied) assert.ok(currentWorks, 'CURRENT still works: setSecret had not changed the server');

        const again = await sb.run(['rotate', name, '--json']);
        assert.equal(again.code, 0, explain('re-run', again));
        const done = await json(sb, name);
        assert.equal(await db.canLogin(user, done.password), true, 'CURRENT works after the re-run');
        if (pending !== undefined) assert.equal(done.password, pending.password, 'the re-run finished the same rotation');
        assert.equal(await hasStage(sb, name, 'PENDING'), false);
      });
    });
  });
});

describe('rotation against a real MariaDB', { skip: mariaSkip }, () => {
  let db: DatabaseServer;
  let sb: Sandbox;
  before(async () => {
    db = await startMariadb();
    sb = await initialisedSandbox();
  });
  after(async () => {
    sb?.cleanup();
    await db?.stop();
  });

  it('single-user: the old password stops working and the new one works', async () => {
    await db.createUser('m_single', 'maria-Password-1');
    await sb.ok(['create', 'my/single', '--value-stdin'], { input: secretFor(db, 'mysql', 'm_single', 'maria-Password-1') });
    const r = await sb.run(['rotate', 'my/single', '--handler', 'mysql']);
    assert.equal(r.code, 0, explain('rotate', r));
    const now = await json(sb, 'my/single');
    assert.equal(await db.canLogin('m_single', now.password), true);
    assert.equal(await db.canLogin('m_single', 'maria-Password-1'), false);
    for (const enc of encodings(now.password)) assert.ok(!db.readLog().includes(enc), 'not in the general log either');
  });

  it('alternating users: a clone with the same grants, the previous user still logging in', async () => {
    await db.createUser('m_alt', 'maria-Alt-0');
    await db.query('GRANT SELECT ON mysql.* TO ?@?', ['m_alt', '%']);
    await sb.ok(['create', 'my/master', '--value-stdin'], { input: JSON.stringify({ username: db.superuser.username, password: db.superuser.password }) });
    await sb.ok(['create', 'my/alt', '--value-stdin'], { input: secretFor(db, 'mysql', 'm_alt', 'maria-Alt-0') });
    const r = await sb.run(['rotate', 'my/alt', '--handler', 'mysql', '--strategy', 'alternating-users', '--master-secret', 'my/master']);
    assert.equal(r.code, 0, explain('rotate', r));
    const first = await json(sb, 'my/alt');
    assert.equal(first.username, 'm_alt_clone');
    assert.equal(await db.canLogin('m_alt_clone', first.password), true);
    assert.equal(await db.canLogin('m_alt', 'maria-Alt-0'), true);
    const grants = await db.query('SHOW GRANTS FOR ?@?', ['m_alt_clone', '%']);
    assert.ok(JSON.stringify(grants).includes('SELECT ON `mysql`.*'), `the clone has the grants: ${JSON.stringify(grants)}`);
    const again = await sb.run(['rotate', 'my/alt']);
    assert.equal(again.code, 0, explain('rotate again', again));
    const second = await json(sb, 'my/alt');
    assert.equal(second.username, 'm_alt');
    assert.equal(await db.canLogin('m_alt', second.password), true);
    assert.equal(await db.canLogin('m_alt_clone', first.password), true);
  });
});
