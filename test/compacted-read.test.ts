/**
 * The first read of a compacted vault on a machine that has not verified it (a fresh clone), for
 * named secrets: the payload lines of a compacted file are hashed and indexed but parsed only
 * for the secrets asked for, and the `state` lines' digest is taken from the bytes as read. Both
 * are checked here against the full parse, and every change to a line of the compacted prefix
 * must still be refused by that first `get`, whichever secret it asks for.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { replay } from '../src/core/replay.js';
import { REPLAY_OPTIONS } from '../src/store/log-vault.js';
import { CHECKPOINT_DIGESTS } from '../src/store/op-codec.js';
import { OpLog, replayInput } from '../src/store/op-log.js';
import { type Sandbox, sandbox } from './support/cli.js';

describe('the first read of a compacted vault', () => {
  let sb: Sandbox;
  let vault: string;
  let pristine: Buffer;
  /** What this machine verified and cached: removed, as on a fresh clone. */
  const forget = (): void => {
    rmSync(join(sb.home, '.cache', 'secrets'), { recursive: true, force: true });
    rmSync(join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust'), { recursive: true, force: true });
  };
  before(async () => {
    sb = sandbox();
    vault = join(sb.home, 'v.yaml');
    const run = (args: string[], input?: string): Promise<string> => sb.ok(['--vault', vault, ...args], input !== undefined ? { input } : {});
    await run(['init']);
    const bob = (await sb.ok(['identity', 'new', '--name', 'bob', '--out', join(sb.home, 'bob.key')])).trim();
    await run(['member', 'add', 'bob', bob, '--role', 'admin']);
    for (const name of ['app/a', 'app/b', 'app/c']) {
      await run(['create', name, '--value-stdin'], `${name}-1`);
      await run(['put', name, '--value-stdin'], `${name}-2`);
    }
    await run(['tag', 'app/b', 'team=blue']);
    await run(['member', 'remove', 'bob', '--yes']);
    await run(['compact']);
    pristine = readFileSync(vault);
  });
  after(() => sb.cleanup());

  const get = (name: string): ReturnType<Sandbox['run']> => sb.run(['--vault', vault, 'get', name]);

  it('reads the state digest from the bytes and the payloads by index, as the full parse does', async () => {
    const log = new OpLog({ path: vault, lockTimeoutMs: 5000 });
    const full = await log.read();
    const named = await log.read(undefined, 'named');
    assert.ok(full.states.length === 3 && full.statesDigest !== undefined);
    assert.equal(
      full.statesDigest,
      CHECKPOINT_DIGESTS.state(full.states.map(({ kind: _k, ...s }) => s)),
      'the digest of the bytes is the digest of the parsed lines',
    );
    assert.equal(named.statesDigest, full.statesDigest);
    assert.ok(
      [...named.payloads.values()].every((p) => p.payload === undefined),
      "the compacted file's payloads are indexed, not parsed",
    );
    const a = replay(replayInput(full), REPLAY_OPTIONS);
    const b = replay(replayInput(named), REPLAY_OPTIONS);
    assert.deepEqual(b.heads, a.heads);
    assert.deepEqual([...b.state.secrets.values()], [...a.state.secrets.values()]);
  });

  it("a fresh get of one secret returns it, and the removed member's exposure is the full read's", async () => {
    forget();
    const r = await get('app/b');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'app/b-2');
    const fromState = await sb.ok(['--vault', vault, 'member', 'list', '--removed', '--json']);
    forget();
    const whole = await sb.ok(['--vault', vault, 'member', 'list', '--removed', '--json'], { env: { SECRETS_READ_INDEX: '0' } });
    assert.equal(fromState, whole);
    assert.match(whole, /app\/a/, 'bob was exposed to the secrets sealed to him');
  });

  /** Every line of the compacted prefix changed in one byte: the first get of any secret refuses it. */
  it('a changed byte in any line before the checkpoint is refused by the first get of another secret', async () => {
    const lines = pristine.toString('utf8').split('\n');
    const checkpoint = lines.findIndex((l) => l.startsWith('- {"kind":"checkpoint",'));
    assert.ok(checkpoint > 0);
    let tried = 0;
    for (let i = 1; i < checkpoint; i++) {
      const line = lines[i] as string;
      const kind = /"kind":"(\w+)"/.exec(line)?.[1];
      if (kind !== 'state' && kind !== 'value' && kind !== 'keys') continue;
      // A character inside the JSON, swapped for another that keeps it valid base64 or text.
      const at = line.length - 8;
      const changed = `${line.slice(0, at)}${line[at] === 'A' ? 'B' : 'A'}${line.slice(at + 1)}`;
      writeFileSync(vault, [...lines.slice(0, i), changed, ...lines.slice(i + 1)].join('\n'));
      forget();
      const r = await get('app/c');
      assert.equal(r.code, 6, `line ${i + 1} (${kind}): ${r.stderr}`);
      assert.equal(r.stdout, '');
      tried++;
    }
    assert.ok(tried >= 9, `state, value and keys lines tried (${tried})`);
    // A change that names no payload (a tag's value): only the state digest sees it.
    const tagged = lines.findIndex((l) => l.startsWith('- {"kind":"state",') && l.includes('"blue"'));
    writeFileSync(vault, [...lines.slice(0, tagged), (lines[tagged] as string).replace('"blue"', '"bluf"'), ...lines.slice(tagged + 1)].join('\n'));
    forget();
    const r = await get('app/c');
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /its state lines do not hash to its state/);
    writeFileSync(vault, pristine);
    forget();
    assert.equal((await get('app/c')).stdout, 'app/c-2');
  });
});
