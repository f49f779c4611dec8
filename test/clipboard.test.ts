// `secrets get --clip` against a real X server (Xvfb) and xclip, with the clearing delay
// shortened through the test build's SECRETS_TEST_CLIP_CLEAR_MS: the clipboard holds the value
// and stdout nothing, it is cleared after the delay, a clipboard changed meanwhile is left
// alone, the value is on no process's argv or environment, and no tool is a clear error.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, initialisedSandbox, type Sandbox } from './support/cli.js';
import { skipReason } from './support/keyring.js';

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function clipboardCheck(): { ok: true } | { ok: false; reason: string } {
  const missing = ['Xvfb', 'xclip'].filter((b) => !onPath(b));
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `${missing.join(', ')} not on PATH (apt-get install xvfb xclip)` };
}

/** Starts Xvfb on a free display; resolves with its name. */
function startXvfb(): Promise<{ display: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not start')), 10_000);
    child.on('error', reject);
    child.stdio[3]?.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve({ display: `:${out.trim()}`, stop: () => child.kill('SIGTERM') });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('secrets get --clip', { skip: skipReason(clipboardCheck()) }, () => {
  let sb: Sandbox;
  let x: { display: string; stop: () => void };
  const VALUE = `clip-${Math.random().toString(16).slice(2)}-value`;
  const paste = (): string | undefined => {
    const r = spawnSync('xclip', ['-selection', 'clipboard', '-out'], { env: { ...process.env, DISPLAY: x.display }, timeout: 5_000 });
    return r.status === 0 ? r.stdout.toString('utf8') : undefined;
  };
  const copy = (text: string): void => {
    spawnSync('xclip', ['-selection', 'clipboard', '-in'], {
      env: { ...process.env, DISPLAY: x.display },
      input: text,
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 5_000,
    });
  };
  const clip = (args: string[], delayMs: number, env: Record<string, string | undefined> = {}): Promise<CliResult> =>
    sb.run(['get', ...args, '--clip'], { env: { DISPLAY: x.display, SECRETS_TEST_CLIP_CLEAR_MS: String(delayMs), ...env } });
  /** Every process's argv and environment that we can read. */
  const processText = (): string =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return `${readFileSync(`/proc/${p}/cmdline`, 'latin1')}\n${readFileSync(`/proc/${p}/environ`, 'latin1')}`;
        } catch {
          return '';
        }
      })
      .join('\n');

  before(async () => {
    x = await startXvfb();
    sb = await initialisedSandbox();
    await sb.ok(['create', 'app/pw', '--value-stdin'], { input: VALUE });
    await sb.ok(['create', 'app/db', '--value-stdin'], { input: '{"user":"app","password":"first"}' });
    await sb.ok(['put', 'app/db', '--value-stdin'], { input: '{"user":"app","password":"second"}' });
  });
  after(() => {
    sb.cleanup();
    x.stop();
  });

  test('the value goes to the clipboard, not stdout, and is cleared after the delay; it is on no argv or environment', async () => {
    const r = await clip(['app/pw'], 4_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'Copied app/pw to the clipboard (xclip); it will be cleared in 4 s unless it changes\n');
    // secrets has exited; the clipboard still holds the value and a helper waits to clear it.
    assert.equal(paste(), VALUE);
    assert.ok(!processText().includes(VALUE), 'the value is on some process argv or environment');
    let now = paste();
    for (let i = 0; i < 75 && now === VALUE; i++) {
      await sleep(200);
      now = paste();
    }
    assert.ok(now === '' || now === undefined, `the clipboard still holds ${JSON.stringify(now)}`);
  });

  test('a clipboard the user changed meanwhile is left alone', async () => {
    const r = await clip(['app/pw'], 1_500);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(paste(), VALUE);
    copy('mine');
    await sleep(4_000);
    assert.equal(paste(), 'mine');
  });

  test('--field and --version-stage pick what is copied', async () => {
    const r = await clip(['app/db', '--field', 'password', '--version-stage', 'PREVIOUS'], 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^Copied app\/db \(password\) to the clipboard \(xclip\); it will be cleared in 20 s unless it changes\n$/);
    assert.equal(paste(), 'first');
    copy('done');
  });

  test('no clipboard tool, no display, or a request for several values is a usage error', async () => {
    const reads = async (): Promise<number> =>
      (JSON.parse(await sb.ok(['audit', '--secret', 'app/pw', '--event', 'GetSecretValue', '--json'])) as unknown[]).length;
    const readsBefore = await reads();
    const empty = mkdtempSync(join(tmpdir(), 'secrets-no-tools-'));
    try {
      const none = await clip(['app/pw'], 1_000, { PATH: empty });
      assert.equal(none.code, 2, none.stderr);
      assert.equal(none.stdout, '');
      assert.match(none.stderr, /^secrets: error: no clipboard tool: xclip or xsel not on PATH\nsecrets: hint: install xclip/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const noDisplay = await clip(['app/pw'], 1_000, { DISPLAY: undefined });
    assert.equal(noDisplay.code, 2);
    assert.match(noDisplay.stderr, /no clipboard: neither WAYLAND_DISPLAY nor DISPLAY is set/);
    for (const args of [
      ['app/pw', '--json'],
      ['app/pw', 'app/db'],
      ['--filter', 'name=app'],
    ]) {
      const r = await clip(args, 1_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--clip copies one value/);
    }
    // Refused before the read: no value was decrypted, and no read is in the audit log.
    assert.equal(await reads(), readsBefore);
  });
});
