// The library as a server uses it: `require('local-secrets-manager')` from CommonJS (package.json "exports"
// "require" → dist/index.cjs), the event loop while values are read, and no test hooks in either entry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initialisedSandbox, marker, ROOT, type Sandbox } from './support/cli.js';

const SECRETS = 2000;

describe('the library in a Node process', () => {
  let sb: Sandbox;
  const value = marker().value;
  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'lib/one', '--value-stdin'], { input: value });
    const many: Record<string, string> = {};
    for (let i = 0; i < SECRETS; i++) many[`K${i}`] = `value ${i} ${'x'.repeat(200)}`;
    const file = join(sb.home, 'many.json');
    writeFileSync(file, JSON.stringify(many));
    await sb.ok(['import', file, '--format', 'json', '--prefix', 'big/'], { timeoutMs: 120_000 });
  });
  after(() => sb?.cleanup());

  /** Runs `code` in a child Node (CommonJS or ES module) in the package's directory, so `secrets` resolves to this package. */
  const node = (code: string, type: 'commonjs' | 'module', env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [`--input-type=${type}`, '-e', code], {
      cwd: ROOT,
      env: { ...sb.env, SECRETS_VAULT: sb.vault, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('require("secrets") from CommonJS: SecretsClient reads a value; errors are SecretsError with a code', () => {
    const r = node(
      `const { SecretsClient, SecretsError } = require('local-secrets-manager');
      (async () => {
        const c = new SecretsClient();
        const v = await c.getSecretValue({ SecretId: 'lib/one' });
        let code;
        try { await c.getSecretValue({ SecretId: 'lib/missing' }); } catch (e) { code = (e instanceof SecretsError) + ':' + e.code; }
        process.stdout.write(JSON.stringify({ value: v.SecretString, stages: v.VersionStages, code }));
      })();`,
      'commonjs',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { value, stages: ['CURRENT'], code: 'true:NOT_FOUND' });
  });

  // The library reads through fs.promises (the vault, the verified state, the trust state, the
  // identity key, the audit append, its lock and its fsync) and hashes a large vault in steps,
  // so a server's event loop keeps turning: a 1 ms interval keeps firing during 20 reads of a
  // vault of 2,000 secrets. (With synchronous I/O it did not fire once.)
  it('the event loop keeps turning while getSecretValue reads a large vault', () => {
    const r = node(
      `import { SecretsClient } from 'local-secrets-manager';
      const c = new SecretsClient({ cache: false });
      await c.getSecretValue({ SecretId: 'big/K1' });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) await c.getSecretValue({ SecretId: 'big/K' + (i * 97) });
      const ms = performance.now() - t0;
      clearInterval(timer);
      process.stdout.write(JSON.stringify({ ticks, ms }));`,
      'module',
    );
    assert.equal(r.status, 0, r.stderr);
    const { ticks, ms } = JSON.parse(r.stdout) as { ticks: number; ms: number };
    // At least one tick per 10 ms of reading: the loop is never held for long.
    assert.ok(ticks >= Math.floor(ms / 10), `${ticks} interval ticks during ${ms.toFixed(0)} ms of reads`);
  });

  // The hooks are compiled in only in dist/secrets-test-hooks.cjs: tsc's dist/src/index.js has
  // no definition of the flag, and dist/index.cjs is bundled with it false.
  for (const type of ['module', 'commonjs'] as const) {
    it(`test hooks are not in the library (${type === 'module' ? 'import' : 'require'}): SECRETS_TEST_NOW and the others are not even read`, () => {
      const started = Date.now();
      const load = type === 'module' ? `import { SecretsClient } from 'local-secrets-manager';` : `const { SecretsClient } = require('local-secrets-manager');`;
      const r = node(
        `${load}
        (async () => {
          const fixed = await new SecretsClient({ cache: false }).getSecretValue({ SecretId: 'lib/one' });
          const env = { ...process.env, SECRETS_TEST_NOW: 'not a time', SECRETS_FAULT_KILL: 'nonsense', SECRETS_TEST_CLIP_CLEAR_MS: 'soon' };
          const bad = await new SecretsClient({ env, cache: false }).getSecretValue({ SecretId: 'lib/one' });
          process.stdout.write(JSON.stringify([fixed.SecretString, bad.SecretString]));
        })();`,
        type,
        { SECRETS_TEST_NOW: '2001-01-01T00:00:00Z' },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [value, value]);
      const dir = join(sb.env['XDG_STATE_HOME'] as string, 'secrets', 'audit');
      const times = readdirSync(dir)
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { eventName: string; secretName?: string; eventTime: string })
        .filter((e) => e.eventName === 'GetSecretValue' && e.secretName === 'lib/one')
        .map((e) => Date.parse(e.eventTime));
      const last = times.slice(-2);
      assert.equal(last.length, 2);
      // 2001 is decades off; a second of slack is for a wall-clock step, not for the hook.
      assert.ok(
        last.every((t) => t >= started - 1000),
        `the audit events of these reads are dated now, not by SECRETS_TEST_NOW: ${last.map((t) => new Date(t).toISOString()).join(', ')}`,
      );
    });
  }
});
