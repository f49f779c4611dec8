// Labels where a version is taken (`stage --to/--from`), `rollback`, and the rule that keeps a
// label and a version id from ever naming two versions; end to end through the built binary.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, initialisedSandbox, type Sandbox } from './support/cli.js';

function assertUserError(r: CliResult, code: number, pattern?: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^secrets: error: .+\n(secrets: hint: .+\n)?$/);
  if (pattern) assert.match(r.stderr, pattern);
}

interface Versions {
  Versions: { VersionId: string; VersionStages: string[] }[];
}

describe('labels as versions, and rollback', () => {
  let sb: Sandbox;
  /** Version ids of svc/key, oldest first. */
  const ids: string[] = [];
  const holder = async (label: string): Promise<string | undefined> =>
    (JSON.parse(await sb.ok(['versions', 'svc/key', '--json'])) as Versions).Versions.find((v) => v.VersionStages.includes(label))?.VersionId;

  before(async () => {
    sb = await initialisedSandbox();
    for (const [i, value] of ['one', 'two', 'three'].entries()) {
      const r = JSON.parse(await sb.ok([i === 0 ? 'create' : 'put', 'svc/key', '--value-stdin', '--json'], { input: value })) as { VersionId: string };
      ids.push(r.VersionId);
    }
  });
  after(() => sb.cleanup());

  test('stage --to and --from take a label: CURRENT --from CURRENT --to PREVIOUS rolls back', async () => {
    const held = await sb.run(['stage', 'svc/key', 'CURRENT', '--to', 'PREVIOUS']);
    assertUserError(held, 4, /label CURRENT is on version .*\n.*--from CURRENT --to PREVIOUS.*secrets rollback svc\/key/);
    const r = await sb.run(['stage', 'svc/key', 'CURRENT', '--from', 'CURRENT', '--to', 'PREVIOUS']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `CURRENT is now on svc/key version ${ids[1]}\n`);
    assert.equal(await sb.ok(['get', 'svc/key']), 'two');
    assert.equal(await holder('PREVIOUS'), ids[2]);
    // Back again, with a label of your own as --to.
    await sb.ok(['stage', 'svc/key', 'good', '--to', 'PREVIOUS']);
    await sb.ok(['stage', 'svc/key', 'CURRENT', '--from', 'CURRENT', '--to', 'good']);
    assert.equal(await sb.ok(['get', 'svc/key']), 'three');
    await sb.ok(['stage', 'svc/key', 'good', '--from', 'good']);
    assertUserError(await sb.run(['stage', 'svc/key', 'CURRENT', '--from', 'CURRENT', '--to', 'NOPE']), 3, /no version or staging label NOPE/);
  });

  test('rollback swaps CURRENT and PREVIOUS in one step, prints JSON with --json, and is audited as a stage change', async () => {
    const plain = await sb.run(['rollback', 'svc/key']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, '');
    assert.equal(plain.stderr, `CURRENT of svc/key is now version ${ids[1]}; PREVIOUS is ${ids[2]}\n`);
    assert.equal(await sb.ok(['get', 'svc/key']), 'two');
    assert.equal(await sb.ok(['get', 'svc/key', '--version-stage', 'PREVIOUS']), 'three');
    // Twice is a round trip.
    const json = JSON.parse(await sb.ok(['rollback', 'svc/key', '--json'])) as Record<string, unknown>;
    assert.deepEqual(json, {
      Name: 'svc/key',
      VersionStages: { [ids[2] as string]: ['CURRENT'], [ids[1] as string]: ['PREVIOUS'] },
      VersionId: ids[2],
      PreviousVersionId: ids[1],
    });
    const events = (await sb.ok(['audit', '--secret', 'svc/key', '--event', 'UpdateSecretVersionStage']))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { eventName: string; outcome: string; secretName?: string; versionId?: string; versionStage?: string[] });
    // Newest first: the two rollbacks, each naming the version it made CURRENT.
    assert.deepEqual(
      events.slice(0, 2).map((e) => [e.eventName, e.outcome, e.secretName, e.versionId, e.versionStage]),
      [
        ['UpdateSecretVersionStage', 'success', 'svc/key', ids[2], ['CURRENT']],
        ['UpdateSecretVersionStage', 'success', 'svc/key', ids[1], ['CURRENT']],
      ],
    );
  });

  test('rollback without a PREVIOUS version is not found (exit 3) and changes nothing', async () => {
    await sb.ok(['create', 'svc/new', '--value-stdin'], { input: 'only' });
    assertUserError(await sb.run(['rollback', 'svc/new']), 3, /no PREVIOUS version to roll back to/);
    assertUserError(await sb.run(['rollback', 'svc/none']), 3, /not found/);
    assert.equal(await sb.ok(['get', 'svc/new']), 'only');
  });

  test('get --version-id takes ids only, and points a label at --version-stage', async () => {
    assertUserError(await sb.run(['get', 'svc/key', '--version-id', 'PREVIOUS']), 3, /no version PREVIOUS\n.*--version-stage PREVIOUS/);
  });

  test('a label and a version id never share a name on one secret', async () => {
    const token = 'release-candidate-0123456789abcdef';
    // A label named like a version id...
    assertUserError(await sb.run(['stage', 'svc/key', ids[0] as string, '--to', 'CURRENT']), 4, /both a staging label and a version id/);
    assertUserError(
      await sb.run(['put', 'svc/key', '--value-stdin', '--version-stage', ids[0] as string], { input: 'x' }),
      4,
      /both a staging label and a version id/,
    );
    // ...and a version id named like a label.
    await sb.ok(['stage', 'svc/key', token, '--to', 'CURRENT']);
    assertUserError(
      await sb.run(['put', 'svc/key', '--value-stdin', '--client-request-token', token], { input: 'x' }),
      4,
      /both a staging label and a version id/,
    );
    assert.equal(await sb.ok(['get', 'svc/key']), 'three');
  });
});

describe('rollback is authorized as UpdateSecretVersionStage', () => {
  test('a member allowed only to read is denied (exit 5) and nothing moves', async () => {
    const sb = await initialisedSandbox();
    try {
      await sb.ok(['create', 'app/db', '--value-stdin'], { input: 'v1' });
      await sb.ok(['put', 'app/db', '--value-stdin'], { input: 'v2' });
      const keyFile = join(sb.home, 'bob.key');
      const pub = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', keyFile])).trim();
      await sb.ok(['member', 'add', 'bob', pub]);
      const policy = join(sb.home, 'read.json');
      writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secrets:GetSecretValue', Resource: 'app/*' }] }));
      await sb.ok(['policy', 'put', 'read', '-f', policy]);
      await sb.ok(['policy', 'attach', 'read', 'bob']);
      assertUserError(await sb.run(['--identity-file', keyFile, 'rollback', 'app/db']), 5);
      assert.equal(await sb.ok(['get', 'app/db']), 'v2');
      await sb.ok(['rollback', 'app/db']);
      assert.equal(await sb.ok(['get', 'app/db']), 'v1');
    } finally {
      sb.cleanup();
    }
  });
});
