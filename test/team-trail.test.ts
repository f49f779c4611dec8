/**
 * The team audit trail (docs/audit.md#team-trail): each identity publishes its own events beside
 * the vault as audit/<identity-id>.jsonl, chained and signed; `audit --all-members` reads and
 * verifies every member's file. End to end through the built binary, two identities in files.
 */
import { describe, test, before, after } from 'node:test';
import { deepEqual, equal, match, ok } from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, type Sandbox, sandbox } from './support/cli.js';

interface Published {
  seq: number;
  eventName: string;
  outcome: string;
  principal: { id: string; name?: string };
  src: string;
  prev: string;
  sig: string;
}

describe('team trail: publish and --all-members', () => {
  let sb: Sandbox;
  let aliceId: string;
  let bobId: string;
  let trailDir: string;
  const asBob = (): { env: Record<string, string> } => ({ env: { SECRETS_IDENTITY_FILE: join(sb.home, 'bob.key') } });
  const read = (id: string): Published[] =>
    readFileSync(join(trailDir, `${id}.jsonl`), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Published);

  before(async () => {
    sb = sandbox();
    await sb.ok(['init', '--member-name', 'alice']);
    const pub = await sb.ok(['identity', 'new', '--name', 'bob', '--out', join(sb.home, 'bob.key')]);
    await sb.ok(['member', 'add', 'bob', pub.trim()]);
    await sb.ok(['create', 'dev/db', '--value-stdin'], { input: 'v1' });
    const policy = join(sb.home, 'p.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'dev/*' }] }));
    await sb.ok(['policy', 'put', 'dev-read', '-f', policy]);
    await sb.ok(['policy', 'attach', 'dev-read', 'bob']);
    const members = JSON.parse(await sb.ok(['member', 'list', '--json'])) as { Members: { Name: string; Id: string }[] };
    aliceId = members.Members.find((m) => m.Name === 'alice')?.Id ?? '';
    bobId = members.Members.find((m) => m.Name === 'bob')?.Id ?? '';
    trailDir = join(dirname(sb.vault), 'audit');
    await sb.ok(['get', 'dev/db']);
    await sb.ok(['get', 'dev/db'], asBob());
    const denied = await sb.run(['put', 'dev/db', '--value-stdin'], { input: 'x', ...asBob() });
    equal(denied.code, 5);
  });
  after(() => sb.cleanup());

  test('each identity publishes only its own events, chained, signed, once', async () => {
    match((await sb.run(['audit', 'publish'])).stderr, /Published \d+ new event/);
    match((await sb.run(['audit', 'publish'], asBob())).stderr, /Published 2 new event\(s\)/);
    deepEqual(readdirSync(trailDir).sort(), [`${aliceId}.jsonl`, `${bobId}.jsonl`].sort());
    const bob = read(bobId);
    deepEqual(
      bob.map((e) => [e.seq, e.eventName, e.outcome, e.principal.id]),
      [
        [1, 'GetSecretValue', 'success', bobId],
        [2, 'PutSecretValue', 'denied', bobId],
      ],
    );
    ok(bob.every((e) => /^[A-Za-z0-9+/]{86}==$/.test(e.sig)));
    ok(read(aliceId).every((e) => e.principal.id === aliceId));
    // Publishing again adds nothing; new events are appended after the old lines, byte for byte.
    const before = readFileSync(join(trailDir, `${bobId}.jsonl`), 'utf8');
    match((await sb.run(['audit', 'publish'], asBob())).stderr, /Published 0 new event/);
    await sb.ok(['get', 'dev/db'], asBob());
    await sb.ok(['audit', 'publish'], asBob());
    const afterText = readFileSync(join(trailDir, `${bobId}.jsonl`), 'utf8');
    ok(afterText.startsWith(before));
    equal(read(bobId).length, 3);
  });

  test('--all-members merges every verified file, newest first, with the usual filters', async () => {
    const all = JSON.parse(await sb.ok(['audit', '--all-members', '--json'])) as Published[];
    ok(all.some((e) => e.principal.id === aliceId) && all.some((e) => e.principal.id === bobId));
    const bobOnly = JSON.parse(await sb.ok(['audit', '--all-members', '--principal', 'bob', '--json'])) as Published[];
    equal(bobOnly.length, 3);
    deepEqual(
      bobOnly.map((e) => e.seq),
      [3, 2, 1],
    );
    const denied = JSON.parse(await sb.ok(['audit', '--all-members', '--outcome', 'denied', '--json'])) as Published[];
    deepEqual(
      denied.map((e) => [e.principal.id, e.eventName]),
      [[bobId, 'PutSecretValue']],
    );
    const verified = await sb.run(['audit', 'verify', '--all-members']);
    equal(verified.code, 0, verified.stderr);
    match(verified.stderr, /bob: 3 events, chain and signatures intact/);
  });

  for (const [name, tamper, problem] of [
    ['an edited line', (lines: string[]) => void (lines[0] = (lines[0] as string).replace('"success"', '"denied"')), /event 1 is not signed by bob/],
    ['a deleted line', (lines: string[]) => void lines.splice(1, 1), /event 3 where event 2 was expected/],
    ['two lines swapped', (lines: string[]) => void lines.splice(0, 2, lines[1] as string, lines[0] as string), /event 2 where event 1 was expected/],
    [
      'a line re-signed by another member',
      (lines: string[], alice: string[]) => void (lines[1] = (alice[0] as string).replace(/"seq":\d+/, '"seq":2')),
      /event 2 does not chain|not signed by bob/,
    ],
  ] as const) {
    test(`${name} in a member's file is refused, naming the member and the event`, async () => {
      const path = join(trailDir, `${bobId}.jsonl`);
      const original = readFileSync(path, 'utf8');
      try {
        const lines = original.trimEnd().split('\n');
        const alice = readFileSync(join(trailDir, `${aliceId}.jsonl`), 'utf8')
          .trimEnd()
          .split('\n');
        tamper(lines, alice);
        writeFileSync(path, `${lines.join('\n')}\n`);
        const query = await sb.run(['audit', '--all-members']);
        equal(query.code, 6, query.stderr);
        match(query.stderr, /the published audit trail of bob is broken at event/);
        match(query.stderr, problem);
        const verify = await sb.run(['audit', 'verify', '--all-members']);
        equal(verify.code, 6);
        match(verify.stderr, /published trail of bob is broken/);
        match(verify.stderr, /alice: \d+ events, chain and signatures intact/);
      } finally {
        writeFileSync(path, original);
      }
    });
  }

  test('a file for an identity that is not a member is reported', async () => {
    const stray = join(trailDir, '0123456789abcdef.jsonl');
    writeFileSync(stray, readFileSync(join(trailDir, `${bobId}.jsonl`)));
    try {
      const r = await sb.run(['audit', 'verify', '--all-members']);
      equal(r.code, 6);
      match(r.stderr, /audit\/0123456789abcdef\.jsonl belongs to no member/);
    } finally {
      writeFileSync(stray, '');
      spawnSync('rm', ['-f', stray]);
    }
  });

  test('a reader that closes the pipe early ends the export quietly (no EPIPE stack trace)', () => {
    // Far more than a pipe buffer, so the writer is still writing when `head` goes away.
    const log = join(sb.home, '.local', 'state', 'secrets', 'audit');
    const file = join(log, readdirSync(log).find((f) => f.endsWith('.jsonl')) ?? '');
    const last = readFileSync(file, 'utf8').trimEnd().split('\n').at(-1) ?? '';
    writeFileSync(file, `${`${last}\n`.repeat(2000)}`, { flag: 'a' });
    const r = spawnSync(
      'bash',
      ['-c', `set -o pipefail; node ${JSON.stringify(BIN)} audit export --format cloudtrail | head -c 20 >/dev/null; echo "rc=\${PIPESTATUS[0]}" >&2`],
      {
        env: sb.env,
        encoding: 'utf8',
      },
    );
    match(r.stderr, /rc=0/);
    ok(!/EPIPE|at .*\.js:\d+/.test(r.stderr), r.stderr);
  });
});
