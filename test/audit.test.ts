/**
 * The audit trail end to end through the built binary (docs/audit.md): one event per command with
 * the documented fields, a hash chain this test recomputes itself, no value in the log or its
 * exports, fail-closed reads (a value is printed only after its event is on disk), `audit verify`
 * against every kind of tampering, queries, exports, concurrent appends and `describe`'s
 * LastAccessedDate.
 *
 * CI runs as root on a Debian VM, so permission faults are injected as a throwaway non-root user
 * (useradd + runuser) and a full disk as a small tmpfs; both are skipped (with a reason) only
 * where they cannot work.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, type CliResult, type RunOptions, type Sandbox, initialisedSandbox, marker, sandbox, vaultIdIn } from './support/cli.js';

type Marker = ReturnType<typeof marker>;

/** An event as the log stores it. */
interface Event {
  seq: number;
  eventTime: string;
  eventName: string;
  principal: { id: string; name?: string };
  secretName?: string;
  secretId?: string;
  versionId?: string;
  versionStage?: string[];
  outcome: 'success' | 'denied' | 'error';
  errorCode?: string;
  target?: string;
  command?: string;
  host: string;
  pid: number;
  user: string;
  tty: boolean;
  requestId: string;
  vaultId: string;
  log?: string;
  prev: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `prev` of event 1, as format.ts documents it: bound to the vault id. */
function genesis(vaultId: string): string {
  return sha256(`secrets-audit-v1\0${vaultId}`);
}

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// The vault file and the log, read the way an auditor (or attacker) would.

function vaultRecords(sb: Sandbox): Record<string, unknown>[] {
  return readFileSync(sb.vault, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => JSON.parse(l.slice(2)) as Record<string, unknown>);
}

function vaultIdOf(sb: Sandbox): string {
  return vaultIdIn(sb.vault);
}

/**
 * The audit anchors the vault holds: writer identity id → `<log id>:<seq>:<sha256>`. Format 2:
 * the latest signed entry of each writer that carries one; format 1: the signed head's.
 */
function anchorsOf(sb: Sandbox): Record<string, string> {
  const records = vaultRecords(sb);
  if (records[0]?.['kind'] === 'op') {
    const anchors: Record<string, string> = {};
    for (const r of records) if (r['kind'] === 'op' && typeof r['audit'] === 'string') anchors[r['by'] as string] = r['audit'];
    return anchors;
  }
  const head = records.find((r) => r['kind'] === 'head');
  assert.ok(head, 'the vault has a head record');
  return (head['audit'] as Record<string, string> | undefined) ?? {};
}

function auditDir(sb: Sandbox): string {
  return join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
}

function logPath(sb: Sandbox): string {
  return join(auditDir(sb), `${vaultIdOf(sb)}.jsonl`);
}

/** The complete lines of the log (without newlines); asserts the file ends with a newline. */
function logLines(sb: Sandbox): string[] {
  const text = readFileSync(logPath(sb), 'utf8');
  assert.ok(text.endsWith('\n'), 'the log ends with a newline');
  return text.slice(0, -1).split('\n');
}

function logEvents(sb: Sandbox): Event[] {
  return logLines(sb).map((l) => JSON.parse(l) as Event);
}

/** Checks seq 1..n and every prev against our own SHA-256 of the line before. */
function assertChain(lines: readonly string[], vaultId: string): void {
  let prev = genesis(vaultId);
  lines.forEach((line, i) => {
    const e = JSON.parse(line) as Event;
    assert.equal(e.seq, i + 1, `line ${i + 1} has seq ${i + 1}`);
    assert.equal(e.prev, prev, `event ${e.seq}'s prev is the SHA-256 of the line before it`);
    assert.equal(e.vaultId, vaultId, `event ${e.seq} names the vault`);
    if (i === 0) assert.match(e.log ?? '', /^[0-9a-f]{16,}$/, 'event 1 names the log id');
    else assert.equal(e.log, undefined, `only event 1 names the log id (event ${e.seq} does too)`);
    prev = sha256(line);
  });
}

/** Runs `audit verify --json` and returns exit code, JSON and the plain run's stderr. */
async function verify(sb: Sandbox): Promise<{
  code: number | null;
  json: { Events: number; Intact: boolean; Broken?: { Seq: number; Problem: string }; Anchor?: { seq: number; hash: string }; TornTail: boolean };
  stderr: string;
  stdout: string;
}> {
  const plain = await sb.run(['audit', 'verify']);
  const j = await sb.run(['audit', 'verify', '--json']);
  assert.equal(j.code, plain.code, `verify and verify --json agree on the exit code\n${plain.stderr}\n--json: ${j.stdout}${j.stderr}`);
  return { code: plain.code, json: JSON.parse(j.stdout) as never, stderr: plain.stderr, stdout: plain.stdout };
}

/** The events `secrets audit ARGS` prints in a pipe (JSON lines). */
async function query(sb: Sandbox, args: readonly string[]): Promise<Event[]> {
  const out = await sb.ok(['audit', ...args]);
  return out === ''
    ? []
    : out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Event);
}

const seqs = (events: readonly Event[]): number[] => events.map((e) => e.seq);

/** Runs `fn` with the log replaced by `text`, restoring the original afterwards. */
async function withLogText<T>(sb: Sandbox, text: string, fn: () => Promise<T>): Promise<T> {
  const path = logPath(sb);
  const original = readFileSync(path);
  writeFileSync(path, text);
  try {
    return await fn();
  } finally {
    writeFileSync(path, original);
  }
}

/** Re-chains every line after `from` (0-based), as an attacker who rewrote line `from` would. */
function rechain(lines: readonly string[], from: number): string[] {
  const out = [...lines];
  for (let i = from + 1; i < out.length; i++) {
    const e = JSON.parse(out[i] as string) as Record<string, unknown>;
    e['prev'] = sha256(out[i - 1] as string);
    out[i] = JSON.stringify(e);
  }
  return out;
}

const joinLines = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

async function withSandbox<T>(make: () => Promise<Sandbox>, fn: (sb: Sandbox) => Promise<T>): Promise<T> {
  const sb = await make();
  try {
    return await fn(sb);
  } finally {
    sb.cleanup();
  }
}

/** A sandbox with `init --member-name alice`. */
async function aliceSandbox(extraEnv: Record<string, string> = {}): Promise<Sandbox> {
  const sb = sandbox(extraEnv);
  try {
    await sb.ok(['init', '--member-name', 'alice']);
  } catch (err) {
    sb.cleanup();
    throw err;
  }
  return sb;
}

/** Creates bob with `identity new --out` and adds him as a member; returns his key file and id. */
async function addBob(sb: Sandbox): Promise<{ keyFile: string; id: string }> {
  const keyFile = join(sb.home, 'bob.key');
  const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', keyFile])).trim();
  assert.match(pub, /^secrets-identity-1\S+$/);
  const added = JSON.parse(await sb.ok(['member', 'add', 'bob', pub, '--json'])) as { Id: string };
  return { keyFile, id: added.Id };
}

/** The failure of a fail-closed read: exit 8, nothing on stdout, the audit log named on stderr. */
function assertNothingReleased(what: string, r: CliResult, value: string, path: string): void {
  assert.equal(r.code, 8, explain(`${what}: exit 8 (AUDIT_UNAVAILABLE)`, r));
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  assert.equal(r.stdoutBytes.length, 0, `${what}: not a byte on stdout`);
  assert.ok(!r.stderr.includes(value), `${what}: the value is not on stderr either`);
  assert.match(r.stderr, /^secrets: error: cannot append to the audit log .*; nothing was released$/m, explain(what, r));
  assert.ok(r.stderr.includes(path), `${what}: stderr names the log ${path}:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

// ---------------------------------------------------------------------------------------------

describe('audit trail', () => {
  it('1. one event per command with the documented fields; consecutive seqs; a chain we recompute; modes 0600/0700', async () => {
    await withSandbox(aliceSandbox, async (sb) => {
      const DB = 'app/db';
      const v1 = marker();
      const v2 = marker();
      const rpFile = join(sb.home, 'rp.json');
      const pFile = join(sb.home, 'p.json');
      writeFileSync(pFile, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:DescribeSecret', Resource: '*' }] }));
      writeFileSync(
        rpFile,
        JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Member: 'bob' }, Action: 'secrets:DescribeSecret', Resource: '*' }],
        }),
      );

      const created = JSON.parse(await sb.ok(['create', DB, '--value-stdin', '--description', 'db', '--json'], { input: v1.value })) as {
        ARN?: string;
        VersionId: string;
      };
      assert.equal(await sb.ok(['get', DB]), v1.value);
      const put = JSON.parse(await sb.ok(['put', DB, '--value-stdin', '--json'], { input: v2.value })) as { VersionId: string };
      assert.equal(await sb.ok(['get', DB, '--version-stage', 'PREVIOUS']), v1.value);
      await sb.ok(['update', DB, '--description', 'the database']);
      await sb.ok(['describe', DB]);
      await sb.ok(['versions', DB]);
      await sb.ok(['list']);
      await sb.ok(['tag', DB, 'env=prod']);
      await sb.ok(['untag', DB, 'env']);
      await sb.ok(['stage', DB, 'PENDING', '--to', created.VersionId]);
      await sb.ok(['delete', DB, '--yes']);
      await sb.ok(['restore', DB]);
      const missing = await sb.run(['get', 'app/missing']);
      assert.equal(missing.code, 3, explain('get of a missing secret', missing));
      const bob = await addBob(sb);
      const denied = await sb.run(['--identity-file', bob.keyFile, 'get', DB]);
      assert.equal(denied.code, 5, explain('bob (no policy) reads app/db', denied));
      assert.equal(denied.stdout, '');
      await sb.ok(['policy', 'put', 'readers', '-f', pFile]);
      await sb.ok(['policy', 'attach', 'readers', 'bob']);
      await sb.ok(['policy', 'detach', 'readers', 'bob', '--yes']);
      await sb.ok(['policy', 'delete', 'readers', '--yes']);
      await sb.ok(['policy', 'put', '--secret', DB, '-f', rpFile]);
      await sb.ok(['policy', 'delete', '--secret', DB, '--yes']);
      await sb.ok(['reseal']);
      await sb.ok(['member', 'remove', 'bob', '--yes']);

      const vaultId = vaultIdOf(sb);
      const lines = logLines(sb);
      const events = lines.map((l) => JSON.parse(l) as Event);
      // Now read ids (after the log was captured, so these reads cannot disturb it).
      const members = (JSON.parse(await sb.ok(['member', 'list', '--json'])) as { Members: { Name: string; Id: string }[] }).Members;
      const aliceId = members.find((m) => m.Name === 'alice')?.Id;
      assert.ok(aliceId);
      const dbId = (JSON.parse(await sb.ok(['describe', DB, '--json'])) as { Id: string }).Id;

      const alice = { id: aliceId, name: 'alice' };
      const onDb = { secretName: DB, secretId: dbId };
      const expected: Partial<Event>[] = [
        { eventName: 'CreateSecret', principal: alice, ...onDb, versionId: created.VersionId, versionStage: ['CURRENT'], outcome: 'success' },
        { eventName: 'GetSecretValue', principal: alice, ...onDb, versionId: created.VersionId, versionStage: ['CURRENT'], outcome: 'success' },
        { eventName: 'PutSecretValue', principal: alice, ...onDb, versionId: put.VersionId, versionStage: ['CURRENT'], outcome: 'success' },
        { eventName: 'GetSecretValue', principal: alice, ...onDb, versionId: created.VersionId, versionStage: ['PREVIOUS'], outcome: 'success' },
        { eventName: 'UpdateSecret', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'DescribeSecret', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'ListSecretVersionIds', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'ListSecrets', principal: alice, outcome: 'success' },
        { eventName: 'TagResource', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'UntagResource', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'UpdateSecretVersionStage', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'DeleteSecret', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'RestoreSecret', principal: alice, ...onDb, outcome: 'success' },
        { eventName: 'GetSecretValue', principal: alice, secretName: 'app/missing', outcome: 'error', errorCode: 'NOT_FOUND' },
        { eventName: 'AddMember', principal: alice, target: 'bob', outcome: 'success' },
        // A denial names the version that was asked for (CURRENT), though nothing was read.
        {
          eventName: 'GetSecretValue',
          principal: { id: bob.id, name: 'bob' },
          ...onDb,
          versionId: put.VersionId,
          versionStage: ['CURRENT'],
          outcome: 'denied',
          errorCode: 'DENIED',
        },
        { eventName: 'PutPolicy', principal: alice, target: 'readers', outcome: 'success' },
        { eventName: 'AttachPolicy', principal: alice, target: 'readers bob', outcome: 'success' },
        { eventName: 'DetachPolicy', principal: alice, target: 'readers bob', outcome: 'success' },
        { eventName: 'DeletePolicy', principal: alice, target: 'readers', outcome: 'success' },
        { eventName: 'PutResourcePolicy', principal: alice, secretName: DB, outcome: 'success' },
        { eventName: 'DeleteResourcePolicy', principal: alice, secretName: DB, outcome: 'success' },
        { eventName: 'Reseal', principal: alice, outcome: 'success' },
        { eventName: 'RemoveMember', principal: alice, target: 'bob', outcome: 'success' },
      ];
      assert.deepEqual(
        events.map((e) => e.eventName),
        expected.map((e) => e.eventName),
        'exactly one event per command, in order (init, identity new and member list record none)',
      );
      const pids = new Set<number>();
      const requestIds = new Set<string>();
      events.forEach((e, i) => {
        const want = expected[i] as Partial<Event>;
        const label = `event ${e.seq} (${e.eventName})`;
        for (const [k, v] of Object.entries(want)) {
          assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `${label}: ${k}`);
        }
        // Fields the expectation leaves out are absent, except the ones every event has.
        for (const k of ['secretName', 'secretId', 'versionId', 'versionStage', 'errorCode', 'target'] as const) {
          if (!(k in want)) assert.equal(e[k], undefined, `${label}: no ${k}`);
        }
        if (e.outcome === 'success') assert.equal(e.errorCode, undefined, `${label}: no errorCode on success`);
        assert.match(e.eventTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, `${label}: eventTime`);
        assert.equal(e.host, hostname(), `${label}: host`);
        assert.ok(Number.isInteger(e.pid) && e.pid > 1, `${label}: pid`);
        assert.equal(typeof e.user, 'string', `${label}: user`);
        assert.ok(e.user.length > 0, `${label}: user`);
        assert.equal(e.tty, false, `${label}: tty (stdin is not a terminal here)`);
        assert.match(e.requestId, UUID, `${label}: requestId`);
        assert.match(e.prev, SHA256_HEX, `${label}: prev`);
        assert.equal(e.vaultId, vaultId, `${label}: vaultId`);
        pids.add(e.pid);
        requestIds.add(e.requestId);
      });
      assert.equal(requestIds.size, events.length, 'every command has its own requestId');
      assert.equal(pids.size, events.length, 'every command ran in its own process');
      for (let i = 1; i < events.length; i++) {
        assert.ok((events[i] as Event).eventTime >= (events[i - 1] as Event).eventTime, 'eventTime never goes back');
      }
      assertChain(lines, vaultId);
      assert.notEqual(events[0]?.prev, genesis(`${vaultId}x`), 'the genesis hash depends on the vault id');

      // The signed head anchors this log: the last write (RemoveMember) anchored the tail it saw.
      const anchors = anchorsOf(sb);
      const logId = events[0]?.log as string;
      // Keyed by the writer (alice), so a log cannot pick which anchor applies to it.
      assert.deepEqual(Object.keys(anchors), [events[0]?.principal.id], 'the head anchors the writer, alice');
      const anchoredSeq = events.length - 1;
      assert.equal(
        anchors[events[0]?.principal.id as string],
        `${logId}:${anchoredSeq}:${sha256(lines[anchoredSeq - 1] as string)}`,
        'anchor = <log id>:<seq>:<sha256 of that line>',
      );

      // Modes.
      assert.equal(statSync(logPath(sb)).mode & 0o777, 0o600, 'the log is 0600');
      assert.equal(statSync(auditDir(sb)).mode & 0o777, 0o700, 'the audit directory is 0700');
      assert.ok(!existsSync(`${logPath(sb)}.lock`), 'no lock file is left behind');

      const v = await verify(sb);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.json.Intact, true);
      assert.equal(v.json.Events, events.length + 1, 'the describe after the capture was recorded too (member list is not an audited read)');

      // On a terminal the event says so (script(1) gives the command a pty).
      if (spawnSync('script', ['--version']).status === 0) {
        const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} describe ${DB}`, '/dev/null'], {
          env: sb.env,
          cwd: sb.home,
          encoding: 'utf8',
          input: '',
        });
        assert.equal(r.status, 0, r.stdout);
        const last = logEvents(sb).at(-1);
        assert.equal(last?.eventName, 'DescribeSecret');
        assert.equal(last?.tty, true, 'tty is true when a person ran the command at a terminal');
      }
    });
  });

  it('2. no encoding of any value in the log, the export (both formats) or the query output', async () => {
    await withSandbox(aliceSandbox, async (sb) => {
      const [m1, m2, m3, m4, m5, m6] = [marker(), marker(), marker(), marker(), marker(), marker()] as [Marker, Marker, Marker, Marker, Marker, Marker];
      const all = [m1, m2, m3, m4, m5, m6];
      const token = randomBytes(16).toString('hex');
      await sb.ok(['create', 'leak/a', '--value-stdin'], { input: m1.value });
      await sb.ok(['put', 'leak/a', '--value-stdin', '--client-request-token', token], { input: m2.value });
      assert.equal(await sb.ok(['get', 'leak/a']), m2.value);
      assert.ok((await sb.ok(['get', 'leak/a', '--json'])).includes(m2.value));
      await sb.ok(['update', 'leak/a', '--value-stdin', '--description', 'rotated'], { input: m3.value });
      assert.ok((await sb.ok(['get', 'leak/a', '--json'])).includes(m3.value));
      assert.equal(await sb.ok(['get', 'leak/a', '--version-stage', 'PREVIOUS']), m2.value);
      await sb.ok(['create', 'leak/json', '--value-stdin'], { input: JSON.stringify({ user: 'app', password: m4.value }) });
      assert.equal(await sb.ok(['get', 'leak/json', '--field', 'password']), m4.value);
      const failing: { args: string[]; input?: string }[] = [
        { args: ['create', 'leak/a', '--value-stdin'], input: m5.value },
        { args: ['put', 'leak/missing', '--value-stdin'], input: m5.value },
        { args: ['update', 'leak/missing', '--value-stdin'], input: m5.value },
        { args: ['put', 'leak/a', '--value-stdin', '--client-request-token', token], input: m6.value },
        { args: ['put', 'leak/a', '--value-stdin'], input: `${m6.value}${'x'.repeat(64 * 1024)}` },
        { args: ['get', 'leak/a', '--field', 'password'] },
        { args: ['get', 'leak/json', '--field', 'nope'] },
        { args: ['get', 'leak/a', '--version-id', 'no-such-version'] },
        { args: ['get', 'leak/a', '--version-stage', 'NOPE'] },
        { args: ['get', 'leak/missing', '--json'] },
      ];
      for (const f of failing) {
        const r = await sb.run(f.args, f.input !== undefined ? { input: f.input } : {});
        assert.notEqual(r.code, 0, explain(`secrets ${f.args.join(' ')} must fail`, r));
      }
      const log = readFileSync(logPath(sb), 'latin1');
      const outputs: [string, string][] = [
        ['the log file', log],
        ['audit export', await sb.ok(['audit', 'export'])],
        ['audit export --format jsonl', await sb.ok(['audit', 'export', '--format', 'jsonl'])],
        ['audit export --format cloudtrail', await sb.ok(['audit', 'export', '--format', 'cloudtrail'])],
        ['audit --json', await sb.ok(['audit', '--json'])],
        ['audit (piped)', await sb.ok(['audit'])],
      ];
      // The scan looks at a real trail: the session and its failures are in it.
      const events = logEvents(sb);
      assert.ok(events.length >= 9 + failing.length - 2, `the session is in the log (${events.length} events)`);
      assert.ok(
        events.some((e) => e.outcome === 'error' && e.secretName === 'leak/missing'),
        'failures are in the log',
      );
      const leakA = events.find((e) => e.secretName === 'leak/a')?.secretId as string;
      // CloudTrail records carry ids only; every other output names the secret.
      for (const [what, text] of outputs) assert.ok(text.includes(what.includes('cloudtrail') ? leakA : 'leak/a'), `${what} covers the session`);
      for (const [what, text] of outputs) {
        const hits = all.flatMap((m) => m.encodings.filter((enc) => text.includes(enc)));
        assert.deepEqual(hits, [], `${what} contains a value`);
        assert.ok(!text.includes('MARKER-'), `${what} contains a marker prefix`);
      }
    });
  });

  describe('3. fail-closed: no value without a durable event (T36)', () => {
    it('(a) the log replaced by a directory: get exits 8 with nothing on stdout; a put commits and says its event is missing', async () => {
      await withSandbox(aliceSandbox, async (sb) => {
        const v1 = marker();
        const v2 = marker();
        await sb.ok(['create', 'fc/a', '--value-stdin'], { input: v1.value });
        assert.equal(await sb.ok(['get', 'fc/a']), v1.value);
        const path = logPath(sb);
        const saved = `${path}.saved`;
        renameSync(path, saved);
        mkdirSync(path);
        try {
          const r = await sb.run(['get', 'fc/a']);
          assertNothingReleased('get with the log a directory', r, v1.value, path);
          for (const args of [
            ['get', 'fc/a', '--json'],
            ['get', 'fc/a', '--version-stage', 'CURRENT'],
          ]) {
            assertNothingReleased(`secrets ${args.join(' ')}`, await sb.run(args), v1.value, path);
          }
          // A write: the vault change commits first, then its event cannot be written. The user
          // is told both (exit 8), so they know the change happened without an audit record.
          const w = await sb.run(['put', 'fc/a', '--value-stdin'], { input: v2.value });
          assert.equal(w.code, 8, explain('put with the log a directory', w));
          assert.match(w.stderr, /^secrets: error: the change was saved, but its audit event could not be written: cannot append to the audit log /m, w.stderr);
          assert.ok(w.stderr.includes(path), w.stderr);
          assert.ok(!w.stderr.includes(v2.value) && !w.stdout.includes(v2.value));
        } finally {
          rmSync(path, { recursive: true, force: true });
          renameSync(saved, path);
        }
        // The put did commit; the log has no event for it (nor for the refused gets).
        assert.equal(await sb.ok(['get', 'fc/a']), v2.value);
        const names = logEvents(sb).map((e) => e.eventName);
        assert.deepEqual(names, ['CreateSecret', 'GetSecretValue', 'GetSecretValue']);
        assert.equal((await verify(sb)).code, 0);
      });
    });

    it('(b) the audit directory replaced by a regular file: get exits 8 with nothing on stdout', async () => {
      await withSandbox(aliceSandbox, async (sb) => {
        const v = marker();
        await sb.ok(['create', 'fc/b', '--value-stdin'], { input: v.value });
        const dir = auditDir(sb);
        const path = logPath(sb);
        const saved = join(sb.home, 'audit.saved');
        renameSync(dir, saved);
        writeFileSync(dir, 'not a directory\n');
        try {
          assertNothingReleased('get with the audit dir a file', await sb.run(['get', 'fc/b']), v.value, path);
          assertNothingReleased('get --json with the audit dir a file', await sb.run(['get', 'fc/b', '--json']), v.value, path);
        } finally {
          rmSync(dir, { force: true });
          renameSync(saved, dir);
        }
        assert.equal(await sb.ok(['get', 'fc/b']), v.value);
      });
    });

    it('(c) as a non-root user whose audit directory is read-only: get releases nothing', async (t) => {
      const isRoot = process.getuid?.() === 0;
      const tools = ['useradd', 'userdel', 'runuser'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
      if (!isRoot || tools.length > 0) {
        const reason = !isRoot ? 'not running as root, so no throwaway user can be created' : `missing ${tools.join(', ')}`;
        assert.notEqual(process.env['CI'], 'true', `CI must run (c): ${reason}`);
        t.skip(reason);
        return;
      }
      const user = `sa${randomBytes(5).toString('hex')}`;
      const add = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
      assert.equal(add.status, 0, `useradd: ${add.stderr}`);
      const sb = await aliceSandbox();
      try {
        const v = marker();
        await sb.ok(['create', 'fc/c', '--value-stdin'], { input: v.value });
        assert.equal(spawnSync('chown', ['-R', `${user}:`, sb.home]).status, 0, 'chown the sandbox');
        const asUser = (args: readonly string[], opts: RunOptions = {}): Promise<CliResult> => runAs(user, sb, args, opts);
        // Control: the same user, with a writable audit directory, can read (so the setup works).
        const control = await asUser(['get', 'fc/c']);
        assert.equal(control.code, 0, explain(`get as ${user}`, control));
        assert.equal(control.stdout, v.value);
        const path = logPath(sb);
        chmodSync(auditDir(sb), 0o500);
        assertNothingReleased('get with the audit dir 0500 (non-root)', await asUser(['get', 'fc/c']), v.value, path);
        chmodSync(auditDir(sb), 0o700);
        chmodSync(path, 0o400);
        assertNothingReleased('get with the log 0400 (non-root)', await asUser(['get', 'fc/c']), v.value, path);
        chmodSync(path, 0o600);
        const again = await asUser(['get', 'fc/c']);
        assert.equal(again.stdout, v.value, explain('get after the permissions are restored', again));
        const gets = logEvents(sb).filter((e) => e.eventName === 'GetSecretValue');
        assert.equal(gets.length, 2, 'the control and the last get are recorded; the refused ones are not');
        assert.ok(
          gets.every((e) => e.user === user),
          'the events name the non-root user',
        );
      } finally {
        sb.cleanup();
        spawnSync('userdel', [user]);
      }
    });

    it('(d) a full tmpfs under XDG_STATE_HOME: get exits 8 with nothing on stdout, and works again once there is space', async (t) => {
      // Needs mount(2): root (CI is root on a Debian VM). In a container without CAP_SYS_ADMIN
      // the mount is refused and this case is skipped, in CI too.
      const sb = sandbox();
      const state = sb.env['XDG_STATE_HOME'] as string;
      mkdirSync(state, { recursive: true });
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', state], { encoding: 'utf8' });
      if (mount.status !== 0) {
        sb.cleanup();
        t.skip(`mount -t tmpfs is not permitted here: ${(mount.stderr || mount.error?.message || '').trim()}`);
        return;
      }
      try {
        await sb.ok(['init', '--member-name', 'alice']);
        const v = marker();
        await sb.ok(['create', 'fc/d', '--value-stdin'], { input: v.value });
        assert.equal(await sb.ok(['get', 'fc/d']), v.value);
        const path = logPath(sb);
        const filler = join(state, 'filler');
        assert.throws(() => writeFileSync(filler, Buffer.alloc(1024 * 1024)), /ENOSPC/, 'the tmpfs is now full');
        const before = readFileSync(path);
        const r = await sb.run(['get', 'fc/d']);
        assertNothingReleased('get on a full disk', r, v.value, path);
        assert.match(r.stderr, /ENOSPC/);
        assert.ok(readFileSync(path).equals(before), 'the log is unchanged (no torn line)');
        const w = await sb.run(['put', 'fc/d', '--value-stdin'], { input: marker().value });
        assert.equal(w.code, 8, explain('put on a full audit disk', w));
        assert.match(w.stderr, /the change was saved, but its audit event could not be written/);
        rmSync(filler);
        const ok = await sb.run(['get', 'fc/d', '--version-stage', 'PREVIOUS']);
        assert.equal(ok.code, 0, explain('get once there is space again', ok));
        assert.equal(ok.stdout, v.value);
        assert.equal((await verify(sb)).code, 0);
      } finally {
        spawnSync('umount', [state]);
        sb.cleanup();
      }
    });

    it('(e) --audit best-effort, SECRETS_AUDIT=best-effort and config.json turn the failure into a warning', async () => {
      await withSandbox(aliceSandbox, async (sb) => {
        const v = marker();
        await sb.ok(['create', 'fc/e', '--value-stdin'], { input: v.value });
        const path = logPath(sb);
        const saved = `${path}.saved`;
        renameSync(path, saved);
        mkdirSync(path);
        const config = join(sb.env['XDG_CONFIG_HOME'] as string, 'secrets', 'config.json');
        try {
          const ways: [string, string[], RunOptions][] = [
            ['--audit best-effort', ['--audit', 'best-effort', 'get', 'fc/e'], {}],
            ['SECRETS_AUDIT=best-effort', ['get', 'fc/e'], { env: { SECRETS_AUDIT: 'best-effort' } }],
          ];
          for (const [what, args, opts] of ways) {
            const r = await sb.run(args, opts);
            assert.equal(r.code, 0, explain(what, r));
            assert.equal(r.stdout, v.value, what);
            assert.match(r.stderr, /^secrets: warning: cannot append to the audit log .*best-effort/m, explain(what, r));
            assert.ok(r.stderr.includes(path), what);
          }
          writeFileSync(config, JSON.stringify({ audit: 'best-effort' }));
          const r = await sb.run(['get', 'fc/e']);
          assert.equal(r.code, 0, explain('config.json best-effort', r));
          assert.equal(r.stdout, v.value);
          assert.match(r.stderr, /^secrets: warning: cannot append to the audit log /m);
          // Precedence: the flag beats the environment and the config file.
          assertNothingReleased('--audit required over config.json', await sb.run(['--audit', 'required', 'get', 'fc/e']), v.value, path);
          assertNothingReleased(
            'SECRETS_AUDIT=required over config.json',
            await sb.run(['get', 'fc/e'], { env: { SECRETS_AUDIT: 'required' } }),
            v.value,
            path,
          );
          const bad = await sb.run(['--audit', 'sometimes', 'get', 'fc/e']);
          assert.equal(bad.code, 2, explain('--audit sometimes', bad));
          assert.equal(bad.stdout, '');
        } finally {
          rmSync(config, { force: true });
          rmSync(path, { recursive: true, force: true });
          renameSync(saved, path);
        }
        // Without the opt-out the default is required again.
        assert.equal(await sb.ok(['get', 'fc/e']), v.value);
      });
    });
  });

  describe('4. audit verify finds every kind of tampering (T37)', () => {
    /**
     * 1 CreateSecret, 2-5 GetSecretValue, 6 TagResource (its head anchors event 5),
     * 7-9 GetSecretValue (the unanchored tail).
     */
    async function fixture(): Promise<{ sb: Sandbox; lines: string[]; anchorSeq: number }> {
      const sb = await aliceSandbox();
      try {
        await sb.ok(['create', 'v/a', '--value-stdin'], { input: marker().value });
        for (let i = 0; i < 4; i++) await sb.ok(['get', 'v/a']);
        await sb.ok(['tag', 'v/a', 'k=v']);
        for (let i = 0; i < 3; i++) await sb.ok(['get', 'v/a']);
        const lines = logLines(sb);
        assert.equal(lines.length, 9);
        const anchors = Object.values(anchorsOf(sb));
        assert.equal(anchors.length, 1);
        const logId = (JSON.parse(lines[0] as string) as { log: string }).log;
        assert.equal(anchors[0], `${logId}:5:${sha256(lines[4] as string)}`, 'the tag anchored event 5');
        return { sb, lines, anchorSeq: 5 };
      } catch (err) {
        sb.cleanup();
        throw err;
      }
    }

    function assertBroken(what: string, v: Awaited<ReturnType<typeof verify>>, seq: number, problem: RegExp): void {
      assert.equal(v.code, 6, `${what}: exit 6\n${v.stderr}`);
      assert.equal(v.stdout, '', `${what}: nothing on stdout`);
      assert.equal(v.json.Intact, false, what);
      assert.equal(v.json.Broken?.Seq, seq, `${what}: broken at event ${seq}: ${v.json.Broken?.Problem}`);
      assert.match(v.json.Broken?.Problem ?? '', problem, what);
      assert.match(v.stderr, new RegExp(`^secrets: error: audit log .* is broken at event ${seq}: `, 'm'), `${what}\n${v.stderr}`);
      assert.match(v.stderr, problem, `${what}\n${v.stderr}`);
    }

    it('an intact log, then edited, deleted, reordered, inserted, truncated and rewritten-and-re-hashed copies', async () => {
      const { sb, lines, anchorSeq } = await fixture();
      try {
        const intact = await verify(sb);
        assert.equal(intact.code, 0, intact.stderr);
        assert.equal(intact.json.Intact, true);
        assert.equal(intact.json.Events, 9);
        assert.equal(intact.json.Anchor?.seq, anchorSeq);
        assert.equal(intact.json.TornTail, false);
        assert.match(intact.stderr, /9 events, chain intact; event 5 matches the vault's signed anchor/);
        assert.equal(intact.stdout, '');

        const edit = (i: number, change: (e: Record<string, unknown>) => void): string[] => {
          const out = [...lines];
          const e = JSON.parse(out[i] as string) as Record<string, unknown>;
          change(e);
          out[i] = JSON.stringify(e);
          return out;
        };

        // Edited: event 3 claims to be a DescribeSecret; event 4 no longer chains to it.
        const edited = edit(2, (e) => (e['eventName'] = 'DescribeSecret'));
        assertBroken(
          'eventName of event 3 edited',
          await withLogText(sb, joinLines(edited), () => verify(sb)),
          4,
          /event 4 does not chain to event 3: event 3 was edited/,
        );
        // Edited by a single byte outside any field (whitespace), still caught.
        const spaced = [...lines];
        spaced[6] = `${spaced[6] as string} `;
        assertBroken('a space added to event 7', await withLogText(sb, joinLines(spaced), () => verify(sb)), 8, /event 8 does not chain to event 7/);
        // Edited into something that is not an event.
        const garbled = [...lines];
        garbled[3] = (garbled[3] as string).slice(0, 40);
        assertBroken('event 4 cut short', await withLogText(sb, joinLines(garbled), () => verify(sb)), 4, /not a valid event/);

        // Deleted: line 4 gone.
        const deleted = lines.filter((_, i) => i !== 3);
        assertBroken('event 4 deleted', await withLogText(sb, joinLines(deleted), () => verify(sb)), 4, /event 4 is missing \(deleted\)/);
        const deletedTwo = lines.filter((_, i) => i !== 3 && i !== 4);
        assertBroken('events 4-5 deleted', await withLogText(sb, joinLines(deletedTwo), () => verify(sb)), 4, /events 4–5 are missing \(deleted\)/);

        // Reordered: lines 3 and 4 swapped.
        const swapped = [...lines];
        [swapped[2], swapped[3]] = [swapped[3] as string, swapped[2] as string];
        assertBroken('events 3 and 4 swapped', await withLogText(sb, joinLines(swapped), () => verify(sb)), 3, /out of order \(reordered\)/);

        // Inserted: a perfectly chained forgery with the next seq, before the real event 8.
        const forged = JSON.parse(lines[7] as string) as Record<string, unknown>;
        forged['eventName'] = 'DescribeSecret';
        forged['pid'] = 4242;
        forged['prev'] = sha256(lines[6] as string);
        const inserted = [...lines.slice(0, 7), JSON.stringify(forged), ...lines.slice(7)];
        assertBroken(
          'a chained forgery inserted before event 8',
          await withLogText(sb, joinLines(inserted), () => verify(sb)),
          8,
          /event 8 appears again after event 8 \(inserted/,
        );
        // Inserted: a copy of event 3 after itself, and an arbitrary line.
        const dup = [...lines.slice(0, 3), lines[2] as string, ...lines.slice(3)];
        assertBroken('event 3 duplicated', await withLogText(sb, joinLines(dup), () => verify(sb)), 3, /event 3 appears again/);
        const junk = [...lines.slice(0, 5), '{"hello":"world"}', ...lines.slice(5)];
        assertBroken('a junk line inserted', await withLogText(sb, joinLines(junk), () => verify(sb)), 6, /not a valid event/);
        // Inserted at the end, chained and with the next seq: nothing in the log can tell (the
        // tail after the last anchor is the writer's own, as docs/audit.md says).
        const appended = JSON.parse(lines[8] as string) as Record<string, unknown>;
        appended['seq'] = 10;
        appended['prev'] = sha256(lines[8] as string);
        const withForgedTail = [...lines, JSON.stringify(appended)];
        assert.equal(
          (await withLogText(sb, joinLines(withForgedTail), () => verify(sb))).code,
          0,
          'an appended chained event is indistinguishable (documented limit)',
        );

        // Truncated before the anchored event 5: the head says event 5 existed.
        const truncated = lines.slice(0, 4);
        assertBroken(
          'tail cut before the anchor',
          await withLogText(sb, joinLines(truncated), () => verify(sb)),
          5,
          /the log ends at event 4, but the vault anchors event 5: the tail was truncated/,
        );
        assertBroken('all but event 1 cut', await withLogText(sb, joinLines(lines.slice(0, 1)), () => verify(sb)), 2, /the tail was truncated/);
        // Truncated after the anchor: only the unanchored tail is lost, which the anchor cannot show.
        assert.equal(
          (await withLogText(sb, joinLines(lines.slice(0, 5)), () => verify(sb))).code,
          0,
          'the unanchored tail can be cut unnoticed (documented limit)',
        );

        // Rewritten and re-hashed: event 2 (a read) becomes a DescribeSecret and every later prev
        // is recomputed, so the chain itself is valid; only the signed anchor catches it.
        const rewritten = rechain(
          edit(1, (e) => (e['eventName'] = 'DescribeSecret')),
          1,
        );
        assertChain(rewritten, vaultIdOf(sb));
        assertBroken(
          'event 2 rewritten and the chain re-hashed',
          await withLogText(sb, joinLines(rewritten), () => verify(sb)),
          anchorSeq,
          /event 5 differs from the copy the vault's signed anchor names: the log was rewritten/,
        );
        // The anchored event itself rewritten.
        const rewrittenAnchor = rechain(
          edit(4, (e) => (e['pid'] = 1)),
          4,
        );
        assertBroken(
          'event 5 rewritten',
          await withLogText(sb, joinLines(rewrittenAnchor), () => verify(sb)),
          5,
          /differs from the copy the vault's signed anchor names/,
        );
        // Rewritten after the anchor: undetectable until the next write anchors it (documented).
        const rewrittenTail = rechain(
          edit(6, (e) => (e['eventName'] = 'DescribeSecret')),
          6,
        );
        assertChain(rewrittenTail, vaultIdOf(sb));
        assert.equal((await withLogText(sb, joinLines(rewrittenTail), () => verify(sb))).code, 0, 'a rewritten unanchored tail passes (documented limit)');

        // Event 1 replaced by one for another vault, and a log moved from another vault.
        const otherVault = rechain(
          edit(0, (e) => (e['vaultId'] = '00000000-0000-4000-8000-000000000000')),
          0,
        );
        assertBroken('event 1 of another vault', await withLogText(sb, joinLines(otherVault), () => verify(sb)), 1, /another vault/);

        // After all that the real log is back and intact.
        assert.equal((await verify(sb)).code, 0);
        assert.deepEqual(logLines(sb), lines);
      } finally {
        sb.cleanup();
      }
    });

    it('the whole log emptied or deleted while the signed head anchors it', async () => {
      // Truncating to nothing is the limit of "cut the log back past the anchor"
      // (docs/audit.md: caught). The head of this one-member vault anchors event 5 of a log
      // that is no longer there.
      const { sb, lines } = await fixture();
      try {
        const path = logPath(sb);
        const emptied = await withLogText(sb, '', () => verify(sb));
        assert.equal(emptied.code, 6, `an emptied log while the vault anchors event 5 of it must not verify:\n${emptied.stderr}`);
        assert.match(emptied.stderr, /truncated|missing|anchor/);
        rmSync(path);
        try {
          const gone = await verify(sb);
          assert.equal(gone.code, 6, `a deleted log while the vault anchors event 5 of it must not verify:\n${gone.stderr}`);
        } finally {
          writeFileSync(path, joinLines(lines));
        }
      } finally {
        sb.cleanup();
      }
    });

    it('rewritten and re-hashed with a fresh log id in event 1: the anchor still applies', async () => {
      // The attacker of the re-hash case also replaces event 1's `log` so that no anchor
      // in the head matches the file's id. The vault still anchors event 5 of this vault's
      // log on this machine, so the rewrite must not verify.
      const { sb, lines } = await fixture();
      try {
        const evs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
        (evs[0] as Record<string, unknown>)['log'] = randomBytes(8).toString('hex');
        (evs[1] as Record<string, unknown>)['eventName'] = 'DescribeSecret';
        const forged = rechain(
          evs.map((e) => JSON.stringify(e)),
          0,
        );
        const first = JSON.parse(forged[0] as string) as Record<string, unknown>;
        first['prev'] = genesis(vaultIdOf(sb));
        forged[0] = JSON.stringify(first);
        const rechained = rechain(forged, 0);
        assertChain(rechained, vaultIdOf(sb));
        const v = await withLogText(sb, joinLines(rechained), () => verify(sb));
        assert.equal(v.code, 6, `a re-hashed log under a new log id passes verify, although the vault anchors event 5:\n${v.stderr}`);
      } finally {
        sb.cleanup();
      }
    });

    it('a torn last line is not a break, and the next append repairs it', async () => {
      const { sb, lines } = await fixture();
      try {
        const path = logPath(sb);
        const torn = JSON.stringify({ ...(JSON.parse(lines[8] as string) as object), seq: 10 }).slice(0, 57);
        writeFileSync(path, `${joinLines(lines)}${torn}`);
        const v = await verify(sb);
        assert.equal(v.code, 0, `a torn tail is not tampering:\n${v.stderr}`);
        assert.equal(v.json.TornTail, true);
        assert.equal(v.json.Events, 9);
        assert.match(v.stderr, /warning: the last line is incomplete/);
        // Queries and exports ignore it.
        assert.deepEqual(seqs(await query(sb, [])), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert.equal(await sb.ok(['audit', 'export']), joinLines(lines));

        await sb.ok(['get', 'v/a']);
        const text = readFileSync(path, 'utf8');
        assert.ok(!text.includes(torn), 'the torn bytes are gone');
        const after = logLines(sb);
        assert.deepEqual(after.slice(0, 9), lines, 'complete lines are untouched');
        assert.equal(after.length, 10);
        const e10 = JSON.parse(after[9] as string) as Event;
        assert.equal(e10.seq, 10);
        assert.equal(e10.eventName, 'GetSecretValue');
        assert.equal(e10.prev, sha256(lines[8] as string));
        assertChain(after, vaultIdOf(sb));
        const again = await verify(sb);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.json.TornTail, false);
        assert.equal(again.json.Events, 10);
      } finally {
        sb.cleanup();
      }
    });
  });

  it('5. audit filters, newest first, JSON lines in a pipe, --json, usage errors; export --format cloudtrail', async () => {
    await withSandbox(aliceSandbox, async (sb) => {
      await sb.ok(['create', 'q/alpha', '--value-stdin'], { input: marker().value }); // 1
      await sb.ok(['create', 'q/beta', '--value-stdin'], { input: marker().value }); // 2
      await sb.ok(['get', 'q/alpha']); // 3
      await sb.ok(['get', 'q/beta']); // 4
      await sb.ok(['get', 'q/alpha']); // 5
      assert.equal((await sb.run(['get', 'q/missing'])).code, 3); // 6 error
      const bob = await addBob(sb); // 7 AddMember
      assert.equal((await sb.run(['--identity-file', bob.keyFile, 'get', 'q/alpha'])).code, 5); // 8 denied
      await sb.ok(['describe', 'q/alpha']); // 9
      const events = logEvents(sb);
      assert.equal(events.length, 9);
      const alphaId = events[0]?.secretId as string;
      const aliceId = events[0]?.principal.id as string;

      assert.deepEqual(seqs(await query(sb, [])), [9, 8, 7, 6, 5, 4, 3, 2, 1], 'newest first');
      const piped = await sb.ok(['audit']);
      const asArray = JSON.parse(await sb.ok(['audit', '--json'])) as Event[];
      assert.deepEqual(
        piped
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Event),
        asArray,
        'JSON lines in a pipe = --json array',
      );
      assert.deepEqual(asArray, [...events].reverse(), 'the query prints the stored events');

      const cases: [string[], number[]][] = [
        [
          ['--secret', 'q/alpha'],
          [9, 8, 5, 3, 1],
        ],
        [
          ['--secret', alphaId],
          [9, 8, 5, 3, 1],
        ],
        [['--secret', 'q/missing'], [6]],
        [
          ['--event', 'GetSecretValue'],
          [8, 6, 5, 4, 3],
        ],
        [
          ['--event', 'getsecretvalue'],
          [8, 6, 5, 4, 3],
        ],
        [['--event', 'AddMember'], [7]],
        [['--principal', 'bob'], [8]],
        [['--principal', bob.id], [8]],
        [
          ['--principal', 'alice'],
          [9, 7, 6, 5, 4, 3, 2, 1],
        ],
        [
          ['--principal', aliceId],
          [9, 7, 6, 5, 4, 3, 2, 1],
        ],
        [['--outcome', 'denied'], [8]],
        [['--outcome', 'error'], [6]],
        [
          ['--outcome', 'success'],
          [9, 7, 5, 4, 3, 2, 1],
        ],
        [
          ['--since', '1h'],
          [9, 8, 7, 6, 5, 4, 3, 2, 1],
        ],
        [
          ['--since', '30m', '--until', '2099-01-01'],
          [9, 8, 7, 6, 5, 4, 3, 2, 1],
        ],
        [['--since', '2099-01-01'], []],
        [['--until', '2000-01-01'], []],
        [
          ['--since', (events[4] as Event).eventTime],
          [9, 8, 7, 6, 5],
        ],
        [
          ['--until', (events[3] as Event).eventTime],
          [4, 3, 2, 1],
        ],
        [
          ['--since', (events[2] as Event).eventTime, '--until', (events[4] as Event).eventTime],
          [5, 4, 3],
        ],
        [
          ['--limit', '2'],
          [9, 8],
        ],
        [
          ['--limit', '100'],
          [9, 8, 7, 6, 5, 4, 3, 2, 1],
        ],
        [
          ['--event', 'GetSecretValue', '--limit', '2'],
          [8, 6],
        ],
        [
          ['--secret', 'q/alpha', '--event', 'GetSecretValue', '--outcome', 'success'],
          [5, 3],
        ],
        [['--secret', 'q/beta', '--principal', 'bob'], []],
      ];
      for (const [args, want] of cases) {
        assert.deepEqual(seqs(await query(sb, args)), want, `secrets audit ${args.join(' ')}`);
        const j = JSON.parse(await sb.ok(['audit', ...args, '--json'])) as Event[];
        assert.deepEqual(seqs(j), want, `secrets audit ${args.join(' ')} --json`);
      }
      // A date without a time.
      const today = (events[0] as Event).eventTime.slice(0, 10);
      assert.equal((await query(sb, ['--since', today])).length, 9, `--since ${today}`);

      for (const args of [
        ['--since', 'yesterday'],
        ['--since', '5x'],
        ['--since', '2026-13-45'],
        ['--until', 'soon'],
        ['--outcome', 'failed'],
        ['--outcome', 'SUCCESS'],
        ['--limit', '0'],
        ['--limit', 'many'],
      ]) {
        const r = await sb.run(['audit', ...args]);
        assert.equal(r.code, 2, explain(`secrets audit ${args.join(' ')}`, r));
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /^secrets: error: /m);
      }

      // On a terminal: a table.
      if (spawnSync('script', ['--version']).status === 0) {
        const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} audit --limit 3`, '/dev/null'], {
          env: sb.env,
          cwd: sb.home,
          encoding: 'utf8',
          input: '',
        });
        assert.equal(r.status, 0, r.stdout);
        // A terminal gets colour by default (a bold header); the text under the styles is the table.
        assert.ok(r.stdout.includes('\u001b[1mTIME'), 'coloured on a terminal');

        const table = r.stdout.replace(/\u001b\[\d+m/g, '');
        assert.match(table, /TIME\s+EVENT\s+PRINCIPAL\s+SECRET\s+OUTCOME/);
        assert.match(table, /DescribeSecret\s+alice\s+q\/alpha\s+success/);
        assert.match(table, /GetSecretValue\s+bob\s+q\/alpha\s+denied \(DENIED\)/);
        assert.match(table, /AddMember\s+alice\s+bob\s+success/);
        assert.ok(!table.includes('"seq"'), 'not JSON on a terminal');
      }

      // Export: jsonl is the log; cloudtrail is one JSON document with ids only.
      const lines = logLines(sb);
      assert.equal(await sb.ok(['audit', 'export', '--format', 'jsonl']), joinLines(lines));
      const badFormat = await sb.run(['audit', 'export', '--format', 'csv']);
      assert.equal(badFormat.code, 2, explain('export --format csv', badFormat));
      const ct = JSON.parse(await sb.ok(['audit', 'export', '--format', 'cloudtrail'])) as { Records: Record<string, unknown>[] };
      assert.deepEqual(Object.keys(ct), ['Records']);
      const stored = logEvents(sb);
      assert.equal(ct.Records.length, stored.length);
      const names = ['q/alpha', 'q/beta', 'q/missing'];
      ct.Records.forEach((rec, i) => {
        const e = stored[i] as Event;
        const label = `record ${i + 1} (${e.eventName})`;
        assert.equal(typeof rec['eventVersion'], 'string', label);
        assert.match(rec['eventVersion'] as string, /^\d+\.\d+$/, label);
        assert.equal(rec['eventSource'], 'secrets', label);
        assert.equal(rec['eventName'], e.eventName, label);
        assert.equal(rec['eventTime'], e.eventTime, label);
        const who = rec['userIdentity'] as Record<string, unknown>;
        assert.equal(who['principalId'], e.principal.id, label);
        assert.equal(who['userName'], e.principal.name, label);
        assert.equal(typeof who['type'], 'string', label);
        const params = rec['requestParameters'] as Record<string, unknown> | null;
        if (e.secretId !== undefined) {
          assert.ok(params, `${label}: requestParameters`);
          assert.equal(params['secretId'], e.secretId, label);
        }
        if (params !== null) {
          for (const k of Object.keys(params))
            assert.ok(['secretId', 'versionId', 'versionStage'].includes(k), `${label}: requestParameters.${k} is not an id`);
          const text = JSON.stringify(params);
          for (const n of names) assert.ok(!text.includes(n), `${label}: requestParameters names ${n}`);
        }
        if (e.versionId !== undefined) assert.equal(params?.['versionId'], e.versionId, label);
        if (e.outcome !== 'success') assert.equal(rec['errorCode'], e.errorCode, label);
        else assert.equal(rec['errorCode'], undefined, label);
      });
    });
  });

  it('6. 20 parallel gets and 3 parallel puts: consecutive seqs, a valid chain, one event each', async () => {
    await withSandbox(aliceSandbox, async (sb) => {
      const first = marker();
      await sb.ok(['create', 'par/a', '--value-stdin'], { input: first.value });
      const puts = [marker(), marker(), marker()];
      const values = new Set([first.value, ...puts.map((m) => m.value)]);
      const runs = await Promise.all([
        ...Array.from({ length: 20 }, () => sb.run(['get', 'par/a'], { timeoutMs: 120_000 })),
        ...puts.map((m) => sb.run(['put', 'par/a', '--value-stdin'], { input: m.value, timeoutMs: 120_000 })),
      ]);
      runs.forEach((r, i) => assert.equal(r.code, 0, explain(`parallel run ${i}`, r)));
      runs.slice(0, 20).forEach((r) => assert.ok(values.has(r.stdout), 'each get printed one of the values'));
      const lines = logLines(sb);
      assert.equal(lines.length, 24);
      assertChain(lines, vaultIdOf(sb));
      const events = lines.map((l) => JSON.parse(l) as Event);
      const gets = events.filter((e) => e.eventName === 'GetSecretValue');
      assert.equal(gets.length, 20, 'exactly one GetSecretValue per get');
      assert.equal(new Set(gets.map((e) => e.requestId)).size, 20);
      assert.ok(gets.every((e) => e.outcome === 'success'));
      assert.equal(events.filter((e) => e.eventName === 'PutSecretValue').length, 3);
      assert.equal(new Set(events.map((e) => e.pid)).size, 24, 'one event per process');
      const v = await verify(sb);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.json.Events, 24);
      assert.ok(!existsSync(`${logPath(sb)}.lock`), 'no lock file is left behind');
    });
  });

  it('7. describe shows LastAccessedDate (day precision) after a get, and not before', async () => {
    await withSandbox(initialisedSandbox, async (sb) => {
      await sb.ok(['create', 'la/a', '--value-stdin'], { input: marker().value });
      await sb.ok(['create', 'la/b', '--value-stdin'], { input: marker().value });
      type Described = { LastAccessedDate?: string };
      const describeJson = async (name: string): Promise<Described> => JSON.parse(await sb.ok(['describe', name, '--json'])) as Described;
      assert.equal((await describeJson('la/a')).LastAccessedDate, undefined, 'never read: no LastAccessedDate');
      assert.doesNotMatch(await sb.ok(['describe', 'la/a']), /Accessed/);
      // Reads that released nothing, and a read of another secret, do not count.
      assert.notEqual((await sb.run(['get', 'la/a', '--version-stage', 'NOPE'])).code, 0);
      await sb.ok(['get', 'la/b']);
      await sb.ok(['versions', 'la/a']);
      assert.equal((await describeJson('la/a')).LastAccessedDate, undefined, 'failed reads and other secrets do not count');

      await sb.ok(['get', 'la/a']);
      const got = logEvents(sb).filter((e) => e.eventName === 'GetSecretValue' && e.secretName === 'la/a' && e.outcome === 'success');
      assert.equal(got.length, 1);
      const day = (got[0] as Event).eventTime.slice(0, 10);
      assert.equal((await describeJson('la/a')).LastAccessedDate, `${day}T00:00:00.000Z`, 'day precision, from the log');
      const text = await sb.ok(['describe', 'la/a']);
      assert.match(text, new RegExp(`^Accessed:\\s+${day}$`, 'm'));
      assert.doesNotMatch(text, /Accessed:\s+\S+T/, 'no time of day');
    });
  });
});

/** Runs the CLI as `user` (via runuser) with the sandbox's environment. */
function runAs(user: string, sb: Sandbox, args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  const env = Object.entries({ ...sb.env, ...opts.env })
    .filter((kv): kv is [string, string] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve, reject) => {
    const child = spawn('runuser', ['-u', user, '--', 'env', '-i', ...env, process.execPath, BIN, ...args], {
      cwd: sb.home,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}
