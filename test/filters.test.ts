// `--filter tag:KEY=VALUE` (one tag pair) beside the AWS filters, in every command that takes
// --filter (list, get, export); end to end through the built binary.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, type Sandbox } from './support/cli.js';

describe('--filter tag:KEY=VALUE', () => {
  let sb: Sandbox;
  const listed = async (...filters: string[]): Promise<string[]> =>
    (JSON.parse(await sb.ok(['list', '--json', ...filters.flatMap((f) => ['--filter', f])])) as { SecretList: { Name: string }[] }).SecretList.map(
      (s) => s.Name,
    );

  before(async () => {
    sb = await initialisedSandbox();
    const create = (name: string, ...tags: string[]): Promise<string> =>
      sb.ok(['create', name, '--value-stdin', ...tags.flatMap((t) => ['--tag', t])], { input: `value of ${name}` });
    await create('pay/api', 'owner=alice', 'team=payments');
    await create('pay/db', 'team=payments', 'env=prod');
    await create('web/api', 'owner=bob', 'team=web');
    await create('ops/alice', 'team=ops', 'owner=alice-ops');
  });
  after(() => sb.cleanup());

  test('list matches the pair exactly; pairs on different keys are AND-ed, on one key OR-ed; ! negates', async () => {
    assert.deepEqual(await listed('tag:team=payments'), ['pay/api', 'pay/db']);
    assert.deepEqual(await listed('tag:team=payments', 'tag:owner=alice'), ['pay/api']);
    // Exact, not a prefix: owner=alice-ops is not owner=alice.
    assert.deepEqual(await listed('tag:owner=alice'), ['pay/api']);
    assert.deepEqual(await listed('tag:team=payments', 'tag:team=web'), ['pay/api', 'pay/db', 'web/api']);
    assert.deepEqual(await listed('tag:team=!payments'), ['ops/alice', 'web/api']);
    assert.deepEqual(await listed('tag:team=pay'), []);
    // The AWS filters are unchanged: tag-key and tag-value each look at any tag.
    assert.deepEqual(await listed('tag-key=team', 'tag-value=alice'), ['ops/alice', 'pay/api']);
  });

  test('a KEY=VALUE with an unknown key is a usage error whose hint spells the tag filter', async () => {
    const r = await sb.run(['list', '--filter', 'team=payments']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'secrets: error: invalid filter "team=payments"\nsecrets: hint: for the tag pair, use --filter tag:team=payments; other keys: name, description, tag-key, tag-value, all\n',
    );
    const bare = await sb.run(['list', '--filter', 'tag:team']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /invalid filter "tag:team"\nsecrets: hint: use --filter tag:KEY=VALUE/);
    assert.equal((await sb.run(['list', '--filter', 'tag:aws:x=1'])).code, 2);
  });

  test('get --filter and export --filter take it too', async () => {
    const got = JSON.parse(await sb.ok(['get', '--filter', 'tag:team=payments', '--json'])) as { SecretValues: { Name: string; SecretString: string }[] };
    assert.deepEqual(got.SecretValues.map((v) => [v.Name, v.SecretString]).sort(), [
      ['pay/api', 'value of pay/api'],
      ['pay/db', 'value of pay/db'],
    ]);
    const exported = await sb.ok(['export', '--format', 'dotenv', '--filter', 'tag:team=web', '--yes']);
    assert.equal(exported, "WEB_API='value of web/api'\n");
  });
});
