/**
 * Colour: chalk styles on a terminal or with FORCE_COLOR, none with NO_COLOR, --no-color or a pipe,
 * and never in data a program reads (`get`'s value, --json). The coloured and plain tables are
 * snapshots (ids and times normalised) in test/snapshots/colour/.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initialisedSandbox, ROOT, type Sandbox } from './support/cli.js';

const SNAPSHOTS = join(ROOT, 'test', 'snapshots', 'colour');
const ESC = '\u001b[';

function normalise(text: string): string {
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'VERSION-ID').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'TIME');
}

function snapshot(name: string, text: string): void {
  const file = join(SNAPSHOTS, `${name}.txt`);
  if (process.env['UPDATE_SNAPSHOTS'] === '1' || !existsSync(file)) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept a deliberate change)`);
}

describe('colour', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await initialisedSandbox();
    await sb.ok(['create', 'c/one', '--value-stdin'], { input: 'v1' });
    await sb.ok(['put', 'c/one', '--value-stdin'], { input: 'v2' });
  });
  after(() => sb.cleanup());

  it('FORCE_COLOR styles tables: a bold header and dimmed ids and dates', async () => {
    const coloured = await sb.ok(['versions', 'c/one'], { env: { FORCE_COLOR: '1' } });
    assert.ok(coloured.includes(`${ESC}1mVERSION`), 'bold header');
    assert.match(coloured, /\u001b\[2m[0-9a-f]{8}-/, 'dimmed version id');
    snapshot('versions-coloured', normalise(coloured));
  });

  it('NO_COLOR, --no-color and a pipe give plain text, the same text without the styles', async () => {
    const coloured = await sb.ok(['versions', 'c/one'], { env: { FORCE_COLOR: '1' } });
    const plainText = await sb.ok(['versions', 'c/one']);
    for (const [what, env, args] of [
      ['NO_COLOR', { NO_COLOR: '1' }, []],
      ['--no-color over FORCE_COLOR', { FORCE_COLOR: '1' }, ['--no-color']],
      ['a pipe', {}, []],
    ] as const) {
      const out = await sb.ok([...args, 'versions', 'c/one'], { env });
      assert.ok(!out.includes(ESC), `${what}: no escape sequences`);
      assert.equal(out, plainText, `${what}: the same text`);
    }

    assert.equal(coloured.replace(/\u001b\[\d+m/g, ''), plainText, 'colour only adds styles');
    snapshot('versions-plain', normalise(plainText));
  });

  it('errors are red and hints dim with FORCE_COLOR; plain otherwise', async () => {
    const r = await sb.run(['get', 'c/none'], { env: { FORCE_COLOR: '1' } });
    assert.equal(r.code, 3);
    assert.ok(r.stderr.startsWith(`${ESC}31msecrets: error:`), JSON.stringify(r.stderr));
    snapshot('error-coloured', r.stderr);
    const p = await sb.run(['get', 'c/none'], { env: { NO_COLOR: '1' } });
    assert.match(p.stderr, /^secrets: error: secret c\/none not found\nsecrets: hint: /);
    snapshot('error-plain', p.stderr);
  });

  it('data is never coloured: a value and JSON are byte-exact with FORCE_COLOR', async () => {
    const r = await sb.run(['get', 'c/one'], { env: { FORCE_COLOR: '3' } });
    assert.equal(r.stdout, 'v2');
    const j = await sb.ok(['versions', 'c/one', '--json'], { env: { FORCE_COLOR: '1' } });
    assert.ok(!j.includes(ESC));
    JSON.parse(j);
  });
});
