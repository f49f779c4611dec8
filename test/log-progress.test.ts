// A fresh clone's first read of a long format-2 history verifies every entry once; on a terminal
// it shows how far it is (stderr only), and off a terminal it prints nothing extra.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, type Sandbox, sandbox } from './support/cli.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
const skip = hasScript || process.env['CI'] === 'true' ? undefined : 'script(1) is not installed';

describe('format 2: progress of a long verification', { skip }, () => {
  let sb: Sandbox;
  const SECRETS = 5200;

  before(async () => {
    sb = sandbox();
    await sb.ok(['init', '--format', '2']);
    const file = join(sb.home, 'many.env');
    writeFileSync(file, Array.from({ length: SECRETS }, (_, i) => `K${i}=value-${i}`).join('\n'));
    await sb.ok(['import', '--prefix', 'app/', file], { timeoutMs: 120_000 });
  });

  after(() => sb.cleanup());

  /** Forgets what this machine verified, as a fresh clone has nothing. */
  function fresh(): void {
    rmSync(join(sb.env['XDG_CACHE_HOME'] ?? join(sb.home, '.cache'), 'secrets'), { recursive: true, force: true });
    rmSync(join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'trust'), { recursive: true, force: true });
  }

  it('on a terminal the count of verified entries is drawn on stderr, ending at the total', () => {
    fresh();
    const env = { ...sb.env, TERM: 'xterm' };
    const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} get app/K7`, '/dev/null'], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /verifying the vault history: entries \d+\/\d+/);
    const total = SECRETS + 1;
    assert.match(r.stdout, new RegExp(`verifying the vault history: entries ${total}/${total}`));
    assert.match(r.stdout, /value-7/);
  });

  it('off a terminal nothing but the value is printed', async () => {
    fresh();
    const r = await sb.run(['get', 'app/K7'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'value-7');
    assert.equal(r.stderr, '');
  });
});
