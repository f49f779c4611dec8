// `exec` and `env` with --prefix when one secret under it is binary: left out with a warning
// naming it, the rest released; --strict keeps the failure. End to end through the built binary.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initialisedSandbox, type Sandbox } from './support/cli.js';

const WARNING = 'secrets: warning: CERT: secret app/cert is binary, and an environment variable holds text';

describe('--prefix with a binary secret under it', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'app/token', '--value-stdin'], { input: 'tok-123' });
    const der = join(sb.home, 'cert.der');
    writeFileSync(der, Buffer.from([0x30, 0x82, 0xff, 0x00, 0xfe]));
    await sb.ok(['create', 'app/cert', '--from-file', der]);
  });
  after(() => sb.cleanup());

  test('exec runs the command without it and warns, naming the secret', async () => {
    const r = await sb.run(['exec', '--prefix', 'app/', '--', 'sh', '-c', 'printf "%s|%s" "$TOKEN" "${CERT-unset}"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'tok-123|unset');
    assert.equal(r.stderr, `${WARNING}; not set (--strict makes this an error)\n`);
  });

  test('env prints the others and warns', async () => {
    const r = await sb.run(['env', '--prefix', 'app/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'TOKEN=tok-123\n');
    assert.equal(r.stderr, `${WARNING}; left out (--strict makes this an error)\n`);
  });

  test('--strict keeps the failure: exit 2, nothing run or printed', async () => {
    const marker = join(sb.home, 'ran');
    const e = await sb.run(['exec', '--strict', '--prefix', 'app/', '--', 'touch', marker]);
    assert.equal(e.code, 2);
    assert.match(
      e.stderr,
      /^secrets: error: secret app\/cert is binary, and an environment variable holds text\nsecrets: hint: read it with `secrets get app\/cert > FILE`\n$/,
    );
    assert.equal(existsSync(marker), false);
    const v = await sb.run(['env', '--strict', '--prefix', 'app/']);
    assert.equal(v.code, 2);
    assert.equal(v.stdout, '');
  });
});
