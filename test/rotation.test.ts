/**
 * Rotation end to end through the built binary (docs/rotation.md), with the `password` handler and
 * a `command:` handler that plays a service holding one credential. The database handlers against
 * real servers are in rotation-db-cli.test.ts.
 *
 * The fake service is a small node script: a state file holds the password it accepts;
 * setSecret changes it (from CURRENT to PENDING, or accepts PENDING already set), testSecret
 * checks PENDING is accepted. A file `fail-<step>` makes that step exit 3.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type CliResult, initialisedSandbox, marker, sandbox, type Sandbox } from './support/cli.js';

interface Versions {
  Versions: { VersionId: string; VersionStages: string[] }[];
}

interface AuditLine {
  eventName: string;
  outcome: string;
  errorCode?: string;
  target?: string;
  versionId?: string;
  secretName?: string;
}

/** The fake service: see the file comment. Writes what it saw to `calls.jsonl` (argv and env keys, never values). */
const SERVICE = `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const dir = path.dirname(process.argv[1]);
const step = process.argv[2];
const event = JSON.parse(fs.readFileSync(0, 'utf8'));
const pw = (v) => (v === undefined ? undefined : JSON.parse(v).password);
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), envKeys: Object.keys(process.env), env: Object.values(process.env).join('\\n'), event: { ...event, Current: undefined, Pending: undefined, Previous: undefined }, hasCurrent: 'Current' in event, hasPending: 'Pending' in event }) + '\\n');
if (fs.existsSync(path.join(dir, 'fail-' + step))) { process.stderr.write('service refused ' + step + ' (stderr-marker)\\n'); process.exit(3); }
const stateFile = path.join(dir, 'accepted');
const accepted = fs.readFileSync(stateFile, 'utf8');
if (step === 'createSecret') process.exit(0);
if (step === 'setSecret') {
  if (accepted === pw(event.Pending)) process.exit(0);
  if (accepted !== pw(event.Current)) { process.stderr.write('current password refused\\n'); process.exit(4); }
  fs.writeFileSync(stateFile + '.tmp', pw(event.Pending)); fs.renameSync(stateFile + '.tmp', stateFile);
  process.exit(0);
}
if (step === 'testSecret') process.exit(accepted === pw(event.Pending) ? 0 : 5);
process.exit(0);
`;

function explain(what: string, r: CliResult): string {
  return `${what}: exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function stages(sb: Sandbox, name: string): Promise<Map<string, string>> {
  const v = JSON.parse(await sb.ok(['versions', name, '--json'])) as Versions;
  const out = new Map<string, string>();
  for (const version of v.Versions) for (const s of version.VersionStages) out.set(s, version.VersionId);
  return out;
}

async function value(sb: Sandbox, name: string, select: string[] = []): Promise<string> {
  return sb.ok(['get', name, ...select]);
}

function auditLines(sb: Sandbox): AuditLine[] {
  const dir = join(sb.home, '.local', 'state', 'secrets', 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditLine),
    );
}

function auditText(sb: Sandbox): string {
  const dir = join(sb.home, '.local', 'state', 'secrets', 'audit');
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

/** A service directory with the script and its accepted password, allowed as a handler in `sb`. */
async function service(
  sb: Sandbox,
  accepted: string,
): Promise<{
  dir: string;
  handler: string;
  accepted(): string;
  calls(): { argv: string[]; envKeys: string[]; env: string; cwd: string; hasCurrent: boolean; hasPending: boolean }[];
}> {
  const name = `svc-${randomBytes(4).toString('hex')}`;
  const dir = join(sb.home, name);
  const script = join(dir, 'service.cjs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(script, SERVICE);
  chmodSync(script, 0o755);
  writeFileSync(join(dir, 'accepted'), accepted);
  await sb.ok(['handler', 'allow', name, script]);
  return {
    dir,
    handler: `command:${name}`,
    accepted: () => readFileSync(join(dir, 'accepted'), 'utf8'),
    calls: () =>
      readFileSync(join(dir, 'calls.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { argv: string[]; envKeys: string[]; env: string; cwd: string; hasCurrent: boolean; hasPending: boolean }),
  };
}

const password = (json: string): string => (JSON.parse(json) as { password: string }).password;

describe('rotation', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
  });
  after(() => sb.cleanup());

  describe('the password handler', () => {
    it('rotates now: a new CURRENT with only the password changed, the old value PREVIOUS, described as AWS does', async () => {
      const old = JSON.stringify({ username: 'app', host: 'db.internal', password: 'old-password' });
      await sb.ok(['create', 'pw/json', '--value-stdin'], { input: old });
      const r = await sb.run(['rotate', 'pw/json', '--handler', 'password', '--every', '30', '--length', '24', '--exclude-punctuation', '--json']);
      assert.equal(r.code, 0, explain('rotate', r));
      const out = JSON.parse(r.stdout) as { Rotation: { handler: string; every: number; random: unknown }; Rotated: { VersionId: string } };
      assert.equal(out.Rotation.handler, 'password');
      assert.deepEqual(out.Rotation.random, { excludePunctuation: true, length: 24 });
      const now = JSON.parse(await value(sb, 'pw/json')) as Record<string, string>;
      assert.deepEqual(Object.keys(now), ['username', 'host', 'password'], 'fields and their order are kept');
      assert.equal(now['username'], 'app');
      assert.equal(now['host'], 'db.internal');
      assert.match(now['password'] ?? '', /^[A-Za-z0-9]{24}$/, 'generated with the stored options');
      assert.equal(await value(sb, 'pw/json', ['--version-stage', 'PREVIOUS']), old);
      const s = await stages(sb, 'pw/json');
      assert.equal(s.get('CURRENT'), out.Rotated.VersionId);
      assert.equal(s.has('PENDING'), false);
      const d = JSON.parse(await sb.ok(['describe', 'pw/json', '--json'])) as Record<string, unknown>;
      assert.equal(d['RotationEnabled'], true);
      assert.equal(d['RotationHandler'], 'password');
      assert.deepEqual(d['RotationRules'], { AutomaticallyAfterDays: 30 });
      const last = Date.parse(d['LastRotatedDate'] as string);
      assert.ok(Math.abs(last - Date.now()) < 60_000, 'LastRotatedDate is now');
      assert.equal(Date.parse(d['NextRotationDate'] as string), last + 30 * 86_400_000, 'next = last + 30 days');
      const text = await sb.ok(['describe', 'pw/json']);
      assert.match(text, /Rotation: +on \(password, every 30 days\)/);
    });

    it('a plain value becomes a new password; rotating again keeps the stored options', async () => {
      await sb.ok(['create', 'pw/plain', '--value-stdin'], { input: 'plain-old' });
      await sb.ok(['rotate', 'pw/plain', '--handler', 'password', '--length', '12', '--exclude-numbers', '--exclude-punctuation']);
      const first = await value(sb, 'pw/plain');
      assert.match(first, /^[A-Za-z]{12}$/);
      await sb.ok(['rotate', 'pw/plain']);
      const second = await value(sb, 'pw/plain');
      assert.match(second, /^[A-Za-z]{12}$/);
      assert.notEqual(second, first);
      assert.equal(await value(sb, 'pw/plain', ['--version-stage', 'PREVIOUS']), first);
    });

    it('--no-rotate-now stores the configuration only', async () => {
      await sb.ok(['create', 'pw/later', '--value-stdin'], { input: 'later' });
      await sb.ok(['rotate', 'pw/later', '--handler', 'password', '--cron', '0 3 * * 1', '--window', '2h', '--no-rotate-now']);
      assert.equal(await value(sb, 'pw/later'), 'later');
      const d = JSON.parse(await sb.ok(['describe', 'pw/later', '--json'])) as Record<string, unknown>;
      assert.deepEqual(d['RotationRules'], { ScheduleExpression: 'cron(0 3 * * 1)', Duration: '2h' });
      assert.equal(d['LastRotatedDate'], undefined);
      const next = new Date(d['NextRotationDate'] as string);
      assert.equal(next.getUTCDay(), 1, 'a Monday');
      assert.equal(next.getUTCHours(), 3);
      assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + 7 * 86_400_000);
    });
  });

  describe('bad input is refused before anything changes (exit 2)', () => {
    const cases: [string, string[], RegExp][] = [
      ['an unknown handler', ['--handler', 'lambda'], /unknown rotation handler "lambda"/],
      ['a path where a handler name belongs', ['--handler', 'command:/usr/local/bin/rotate'], /a name now, not a path/],
      ['an invalid handler name', ['--handler', 'command:Rotate Me'], /invalid rotation handler name/],
      ['--every with --cron', ['--handler', 'password', '--every', '3', '--cron', '0 3 * * *'], /cannot be combined/],
      ['a cron of six fields', ['--handler', 'password', '--cron', '0 0 3 * * *'], /five fields/],
      ['an invalid cron', ['--handler', 'password', '--cron', '61 * * * *'], /invalid --cron/],
      ['a bad window', ['--handler', 'password', '--every', '1', '--window', '3 hours'], /invalid --window/],
      ['a window without schedule', ['--handler', 'password', '--window', '3h'], /--window needs a schedule/],
      ['--strategy on the password handler', ['--handler', 'password', '--strategy', 'single-user'], /--strategy applies to/],
      ['alternating-users without a master', ['--handler', 'postgres', '--strategy', 'alternating-users'], /--master-secret/],
      ['--every 0', ['--handler', 'password', '--every', '0'], /--every must be/],
    ];
    before(async () => {
      await sb.ok(['create', 'bad/one', '--value-stdin'], { input: 'unchanged' });
    });
    for (const [what, flags, message] of cases) {
      it(what, async () => {
        const before = readFileSync(sb.vault);
        const r = await sb.run(['rotate', 'bad/one', ...flags]);
        assert.equal(r.code, 2, explain(what, r));
        assert.match(r.stderr, message);
        assert.match(r.stderr, /^secrets: error: /);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.deepEqual(readFileSync(sb.vault), before, 'the vault is unchanged');
      });
    }
    it('rotating a secret with no configuration says how to configure it', async () => {
      const r = await sb.run(['rotate', 'bad/one']);
      assert.equal(r.code, 2, explain('rotate', r));
      assert.match(r.stderr, /no rotation configured/);
      assert.match(r.stderr, /hint: .*--handler password/);
    });
    it('flag combinations: --due with a name, --cancel with settings, no name at all', async () => {
      for (const [args, message] of [
        [['rotate', 'bad/one', '--due'], /takes no name/],
        [['rotate', 'bad/one', '--cancel', '--every', '3'], /cannot be combined/],
        [['rotate'], /which secret/],
        [['rotate', 'bad/one', '--no-rotate-now'], /only applies when configuring/],
      ] as const) {
        const r = await sb.run(args);
        assert.equal(r.code, 2, explain(args.join(' '), r));
        assert.match(r.stderr, message);
      }
    });
  });

  describe('a command: handler', () => {
    it('runs PATH STEP for each of the four steps, with the values on stdin only, never in argv or env', async () => {
      const key = `SECRETS-KEY-1${randomBytes(32).toString('base64url')}`;
      const keyed = await initialisedSandbox({ SECRETS_IDENTITY_KEY: key });
      try {
        const m = marker();
        const svc = await service(keyed, m.value);
        await keyed.ok(['create', 'svc/a', '--value-stdin'], { input: JSON.stringify({ user: 'u', password: m.value }) });
        const r = await keyed.run(['rotate', 'svc/a', '--handler', svc.handler]);
        assert.equal(r.code, 0, explain('rotate', r));
        const calls = svc.calls();
        assert.deepEqual(
          calls.map((c) => c.argv),
          [['createSecret'], ['setSecret'], ['testSecret'], ['finishSecret']],
        );
        assert.deepEqual(
          calls.map((c) => [c.hasCurrent, c.hasPending]),
          [
            [true, false],
            [true, true],
            [true, true],
            [true, true],
          ],
        );
        const now = await value(keyed, 'svc/a');
        assert.equal(svc.accepted(), password(now), 'the service accepts the new CURRENT');
        for (const c of calls) {
          assert.ok(!c.envKeys.includes('SECRETS_IDENTITY_KEY'), 'our identity key is withheld');
          for (const enc of [...m.encodings, password(now)]) assert.ok(!c.env.includes(enc), 'no value in the environment');
        }
        const log = auditText(keyed);
        for (const enc of [...m.encodings, password(now)]) assert.ok(!log.includes(enc), 'no value in the audit log');
      } finally {
        keyed.cleanup();
      }
    });

    it('a failing setSecret exits 9 naming the step, keeps CURRENT, keeps stderr out of the log; a re-run resumes with the same version', async () => {
      const svc = await service(sb, 'p0');
      await sb.ok(['create', 'svc/fail', '--value-stdin'], { input: JSON.stringify({ password: 'p0' }) });
      const before = await stages(sb, 'svc/fail');
      writeFileSync(join(svc.dir, 'fail-setSecret'), '');
      const r = await sb.run(['rotate', 'svc/fail', '--handler', svc.handler]);
      assert.equal(r.code, 9, explain('rotate', r));
      assert.match(r.stderr, /secrets: error: rotation of svc\/fail failed at setSecret: .* exited 3/);
      assert.match(r.stderr, /service refused setSecret \(stderr-marker\)/, "the command's stderr is shown");
      assert.match(r.stderr, /hint: CURRENT is unchanged/);
      const mid = await stages(sb, 'svc/fail');
      assert.equal(mid.get('CURRENT'), before.get('CURRENT'), 'CURRENT did not move');
      assert.equal(password(await value(sb, 'svc/fail')), 'p0');
      assert.equal(svc.accepted(), 'p0');
      const pending = mid.get('PENDING');
      assert.ok(pending !== undefined, 'the new value waits as PENDING');
      const failed = auditLines(sb).filter((e) => e.eventName === 'RotationFailed' && e.secretName === 'svc/fail');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.target, 'setSecret');
      assert.equal(failed[0]?.outcome, 'error');
      assert.equal(failed[0]?.errorCode, 'ROTATION_FAILED');
      assert.ok(!auditText(sb).includes('stderr-marker'), "the command's stderr is not in the audit log");

      rmSync(join(svc.dir, 'fail-setSecret'));
      const again = await sb.run(['rotate', 'svc/fail', '--json']);
      assert.equal(again.code, 0, explain('rotate again', again));
      const out = JSON.parse(again.stdout) as { VersionId: string; Resumed: boolean };
      assert.equal(out.VersionId, pending, 'resumed with the same token');
      assert.equal(out.Resumed, true);
      const done = await stages(sb, 'svc/fail');
      assert.equal(done.get('CURRENT'), pending);
      assert.equal(done.get('PREVIOUS'), before.get('CURRENT'));
      assert.equal(done.has('PENDING'), false);
      assert.equal(svc.accepted(), password(await value(sb, 'svc/fail')));
    });

    it('a failing testSecret leaves CURRENT untouched; --cancel removes PENDING and turns rotation off', async () => {
      const svc = await service(sb, 'q0');
      await sb.ok(['create', 'svc/test', '--value-stdin'], { input: JSON.stringify({ password: 'q0' }) });
      const before = await stages(sb, 'svc/test');
      writeFileSync(join(svc.dir, 'fail-testSecret'), '');
      const r = await sb.run(['rotate', 'svc/test', '--handler', svc.handler, '--every', '7']);
      assert.equal(r.code, 9, explain('rotate', r));
      assert.match(r.stderr, /failed at testSecret/);
      const mid = await stages(sb, 'svc/test');
      assert.equal(mid.get('CURRENT'), before.get('CURRENT'));
      assert.equal(password(await value(sb, 'svc/test')), 'q0');
      assert.ok(mid.has('PENDING'));

      const c = await sb.run(['rotate', 'svc/test', '--cancel']);
      assert.equal(c.code, 0, explain('cancel', c));
      assert.match(c.stderr, /Automatic rotation of svc\/test is off/);
      assert.match(c.stderr, new RegExp(`kept as version ${mid.get('PENDING') ?? 'x'}`));
      const after = await stages(sb, 'svc/test');
      assert.equal(after.has('PENDING'), false, 'PENDING is gone');
      assert.equal(after.get('CURRENT'), before.get('CURRENT'));
      const versions = JSON.parse(await sb.ok(['versions', 'svc/test', '--json'])) as Versions;
      assert.ok(
        versions.Versions.some((v) => v.VersionId === mid.get('PENDING')),
        'the pending value is kept as a version',
      );
      const d = JSON.parse(await sb.ok(['describe', 'svc/test', '--json'])) as Record<string, unknown>;
      assert.equal(d['RotationEnabled'], false);
      assert.equal(d['NextRotationDate'], undefined, 'no next rotation while off');
      assert.ok(auditLines(sb).some((e) => e.eventName === 'CancelRotateSecret' && e.secretName === 'svc/test' && e.outcome === 'success'));
    });

    it('a put while the rotation runs abandons it: CURRENT is the put value, RotationAbandoned, exit 4', async () => {
      const dir = join(sb.home, 'abandon');
      mkdirSync(dir, { recursive: true });
      const script = join(dir, 'put-during-set.sh');
      // At setSecret the "service" sees a person store a new value by hand.
      writeFileSync(
        script,
        `#!/bin/sh\ncat >/dev/null\nif [ "$1" = setSecret ]; then printf 'by-hand' | "${process.execPath}" "${BIN}" put svc/abandon --value-stdin 2>"${dir}/put.err" || exit 9; fi\nexit 0\n`,
      );
      chmodSync(script, 0o755);
      await sb.ok(['handler', 'allow', 'abandon', script]);
      await sb.ok(['create', 'svc/abandon', '--value-stdin'], { input: 'before' });
      const r = await sb.run(['rotate', 'svc/abandon', '--handler', 'command:abandon']);
      assert.equal(r.code, 4, explain('rotate', r));
      assert.match(r.stderr, /rotation of svc\/abandon was abandoned/);
      assert.match(readFileSync(join(dir, 'put.err'), 'utf8'), /abandons the rotation in progress/);
      assert.equal(await value(sb, 'svc/abandon'), 'by-hand');
      assert.equal((await stages(sb, 'svc/abandon')).has('PENDING'), false);
      assert.ok(auditLines(sb).some((e) => e.eventName === 'RotationAbandoned' && e.secretName === 'svc/abandon'));
    });
  });

  describe('SIGKILL at every step, then a re-run (T33)', () => {
    const points = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'].flatMap((s) => [`${s}:before`, `${s}:after`]);
    for (const point of points) {
      it(`killed at ${point}: the accepted credential is CURRENT or PENDING, and the re-run completes`, async () => {
        const name = `kill/${point.replace(':', '-')}`;
        const svc = await service(sb, 'k0');
        await sb.ok(['create', name, '--value-stdin'], { input: JSON.stringify({ password: 'k0' }) });
        await sb.ok(['rotate', name, '--handler', svc.handler, '--no-rotate-now']);
        const killed = await sb.run(['rotate', name], { env: { SECRETS_FAULT_KILL: point } });
        assert.equal(killed.signal, 'SIGKILL', explain('killed rotate', killed));

        const mid = await stages(sb, name);
        const current = password(await value(sb, name));
        const pending = mid.has('PENDING') ? password(await value(sb, name, ['--version-stage', 'PENDING'])) : undefined;
        assert.ok(svc.accepted() === current || svc.accepted() === pending, `the credential the service accepts is in the vault (${point})`);
        if (!point.startsWith('setSecret:after') && !point.startsWith('testSecret') && point !== 'finishSecret:before') {
          assert.equal(svc.accepted(), current, 'CURRENT still works');
        }
        assert.deepEqual(
          readdirSync(dirname(sb.vault)).filter((f) => f !== 'vault.yaml'),
          [],
          'no temp or lock file left',
        );

        const again = await sb.run(['rotate', name, '--json']);
        assert.equal(again.code, 0, explain('re-run', again));
        const out = JSON.parse(again.stdout) as { VersionId: string; Resumed: boolean };
        if (pending !== undefined) assert.equal(out.VersionId, mid.get('PENDING'), 'the re-run resumes the same version');
        const end = await stages(sb, name);
        assert.equal(end.has('PENDING'), false);
        assert.equal(svc.accepted(), password(await value(sb, name)), 'after the re-run, CURRENT is what the service accepts');
      });
    }

    it('the audit chain is whole after all of it', async () => {
      const r = await sb.run(['audit', 'verify']);
      assert.equal(r.code, 0, explain('audit verify', r));
    });
  });

  describe('rotate --due with an injected clock', () => {
    it('rotates exactly the secrets whose schedule is due, and nothing on a second run', async () => {
      const due = sandbox();
      try {
        const t0 = '2026-03-01T00:00:00.000Z';
        const at = (days: number, hours = 0): { env: Record<string, string> } => ({
          env: { SECRETS_TEST_NOW: new Date(Date.parse(t0) + days * 86_400_000 + hours * 3_600_000).toISOString() },
        });
        // The vault is made at t0 too: in format 2 an op's time is never before the entries it follows.
        await due.ok(['init'], at(0));
        const make = async (name: string, flags: string[]): Promise<void> => {
          await due.ok(['create', name, '--value-stdin'], { input: `v-${name}`, ...at(0) });
          if (flags.length > 0) await due.ok(['rotate', name, '--handler', 'password', '--no-rotate-now', ...flags], at(0));
        };
        await make('a/every-7', ['--every', '7']);
        await make('a/every-30', ['--every', '30']);
        await make('a/cron-daily-3am-1h', ['--cron', '0 3 * * *', '--window', '1h']);
        await make('a/cron-monthly', ['--cron', '0 0 15 * *']);
        await make('a/off', ['--every', '1']);
        await due.ok(['rotate', 'a/off', '--cancel'], at(0));
        await make('a/never', []);

        const run = async (days: number, hours = 0): Promise<string[]> => {
          const r = await due.run(['rotate', '--due', '--json'], at(days, hours));
          assert.equal(r.code, 0, explain('rotate --due', r));
          const items = (JSON.parse(r.stdout) as { Items: { Name: string; Outcome: string }[] }).Items;
          for (const i of items) assert.equal(i.Outcome, 'rotated', i.Name);
          return items.map((i) => i.Name);
        };
        // Day 8, 03:30: every-7 is due; the daily cron is inside its window.
        assert.deepEqual(await run(8, 3.5), ['a/cron-daily-3am-1h', 'a/every-7']);
        assert.deepEqual(await run(8, 3.6), [], 'nothing is due right after');
        // Day 9, 05:00: the 03:00 window closed two hours ago, so the daily cron waits.
        assert.deepEqual(await run(9, 5), []);
        // Day 15 (2026-03-16) 03:54: every-7 again (7 days after 03:30 on day 8), the monthly cron (15th), not every-30.
        assert.deepEqual(await run(15, 3.9), ['a/cron-daily-3am-1h', 'a/cron-monthly', 'a/every-7']);
        assert.deepEqual(await run(31, 1), ['a/every-30', 'a/every-7']);
        assert.equal(await due.ok(['get', 'a/never']), 'v-a/never');
        assert.equal(await due.ok(['get', 'a/off']), 'v-a/off');
        const d = JSON.parse(await due.ok(['describe', 'a/every-7', '--json'], at(31, 1))) as Record<string, string>;
        assert.equal(d['LastRotatedDate'], new Date(Date.parse(t0) + 31 * 86_400_000 + 3_600_000).toISOString());
        assert.equal(d['NextRotationDate'], new Date(Date.parse(t0) + 38 * 86_400_000 + 3_600_000).toISOString());
      } finally {
        due.cleanup();
      }
    });

    it('a failed rotation in --due is reported, the others go on, and the exit code is 9', async () => {
      const bulk = sandbox();
      try {
        const t0 = { env: { SECRETS_TEST_NOW: '2026-03-01T00:00:00.000Z' } };
        const t2 = { env: { SECRETS_TEST_NOW: '2026-03-03T00:00:00.000Z' } };
        await bulk.ok(['init'], t0);
        const svc = await service(bulk, 'z0');
        writeFileSync(join(svc.dir, 'fail-setSecret'), '');
        for (const n of ['b/1', 'b/3']) {
          await bulk.ok(['create', n, '--value-stdin'], { input: 'x', ...t0 });
          await bulk.ok(['rotate', n, '--handler', 'password', '--every', '1', '--no-rotate-now'], t0);
        }
        await bulk.ok(['create', 'b/2', '--value-stdin'], { input: JSON.stringify({ password: 'z0' }), ...t0 });
        await bulk.ok(['rotate', 'b/2', '--handler', svc.handler, '--every', '1', '--no-rotate-now'], t0);
        const r = await bulk.run(['rotate', '--due'], t2);
        assert.equal(r.code, 9, explain('rotate --due', r));
        assert.match(r.stdout, /b\/1 +rotated/);
        assert.match(r.stdout, /b\/2 +failed +rotation of b\/2 failed at setSecret/);
        assert.match(r.stdout, /b\/3 +rotated/);
      } finally {
        bulk.cleanup();
      }
    });
  });

  describe('policies decide who may rotate', () => {
    it('a member without secrets:RotateSecret is denied (exit 5, audited); with it, the rotation is accepted by every reader', async () => {
      const team = await initialisedSandbox();
      try {
        await team.ok(['create', 'team/key', '--value-stdin'], { input: 'team-v0' });
        await team.ok(['rotate', 'team/key', '--handler', 'password', '--no-rotate-now']);
        const keyFile = join(team.home, 'bob.key');
        const pub = (await team.ok(['identity', 'new', '--name', 'bob', '--out', keyFile])).trim();
        await team.ok(['member', 'add', 'bob', pub]);
        const policy = (actions: string[]): string => {
          const file = join(team.home, `p-${actions.length}.json`);
          writeFileSync(file, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: 'team/*' }] }));
          return file;
        };
        await team.ok(['policy', 'put', 'read-only', '-f', policy(['secrets:GetSecretValue', 'secrets:DescribeSecret'])]);
        await team.ok(['policy', 'attach', 'read-only', 'bob']);
        const asBob = { env: { SECRETS_IDENTITY_FILE: keyFile } };
        assert.equal(await team.ok(['get', 'team/key'], asBob), 'team-v0', 'bob can read');
        const denied = await team.run(['rotate', 'team/key'], asBob);
        assert.equal(denied.code, 5, explain('bob rotates', denied));
        assert.match(denied.stderr, /secrets:RotateSecret/);
        assert.ok(
          auditLines(team).some((e) => e.eventName === 'RotationStarted' && e.outcome === 'denied'),
          'the denial is audited',
        );
        assert.equal(await team.ok(['get', 'team/key']), 'team-v0');

        await team.ok(['policy', 'put', 'rotator', '-f', policy(['secrets:GetSecretValue', 'secrets:DescribeSecret', 'secrets:RotateSecret'])]);
        await team.ok(['policy', 'attach', 'rotator', 'bob']);
        const r = await team.run(['rotate', 'team/key'], asBob);
        assert.equal(r.code, 0, explain('bob rotates with RotateSecret', r));
        const now = await team.ok(['get', 'team/key']);
        assert.notEqual(now, 'team-v0', "the admin reads bob's rotated value: the RotateSecret records verify");
        assert.equal(await team.ok(['get', 'team/key'], asBob), now);
        assert.equal((await team.run(['verify'])).code, 0);

        // bob leaves: rotate what he could read; what has no rotation is listed, not skipped silently.
        await team.ok(['create', 'team/plain', '--value-stdin'], { input: 'plain' });
        await team.ok(['get', 'team/plain'], asBob);
        await team.ok(['member', 'remove', 'bob', '--yes']);
        const exposed = await team.run(['rotate', '--exposed-to', 'bob', '--json']);
        assert.equal(exposed.code, 0, explain('rotate --exposed-to', exposed));
        const items = (JSON.parse(exposed.stdout) as { Items: { Name: string; Outcome: string }[] }).Items;
        assert.deepEqual(items.map((x) => [x.Name, x.Outcome]).sort(), [
          ['team/key', 'rotated'],
          ['team/plain', 'skipped'],
        ]);
        assert.notEqual(await team.ok(['get', 'team/key']), now, 'rotated after bob left');
        const notRemoved = await team.run(['rotate', '--exposed-to', 'nobody']);
        assert.equal(notRemoved.code, 3, explain('unknown member', notRemoved));
      } finally {
        team.cleanup();
      }
    });
  });

  it('no value reaches the audit log or stderr in any of the above', () => {
    const log = auditText(sb);
    for (const name of ['pw/json', 'pw/plain']) assert.ok(log.includes(name));
    assert.ok(!log.includes('old-password') && !log.includes('plain-old'));
    assert.ok(!existsSync(join(sb.home, 'tmp')) || readdirSync(join(sb.home, 'tmp')).length === 0, 'no temp files');
  });
});
